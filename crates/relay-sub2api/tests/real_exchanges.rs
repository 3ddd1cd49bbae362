//! The adapter against exchanges recorded from real hosts built from source
//! (`fixtures/host/real/<release>/session.json`, written by `cargo xtask record-host`).
//!
//! Every recorded answer is served back by an HTTP mock, the adapter operation that
//! sends that request runs against it, and what the adapter makes of the answer is
//! checked: a success decodes (ids and values as recorded), an error becomes the
//! typed error its status and code call for, an account test or gateway answer reads
//! as the host meant it. CI cannot build the host; these recordings keep its real
//! behaviour pinned, release by release.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use httpmock::prelude::*;
use relay_domain::Secret;
use relay_sub2api::*;
use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Debug, Clone, Deserialize)]
struct Session {
    release: String,
    steps: Vec<Step>,
}

#[derive(Debug, Clone, Deserialize)]
struct Step {
    name: String,
    #[serde(default)]
    op: Option<String>,
    #[serde(default)]
    request: Option<Request>,
    #[serde(default)]
    response: Option<Response>,
}

#[derive(Debug, Clone, Deserialize)]
struct Request {
    method: String,
    path: String,
}

#[derive(Debug, Clone, Deserialize)]
struct Response {
    status: u16,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    body: Value,
}

fn session(release: &str) -> Session {
    let path = format!(
        "{}/../../fixtures/host/real/{release}/session.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let s: Session = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(s.release, release);
    s
}

/// A recorded step that was played (not skipped for a missing capture).
struct Played<'a> {
    name: &'a str,
    op: &'a str,
    method: &'a str,
    path: &'a str,
    status: u16,
    headers: &'a BTreeMap<String, String>,
    body: &'a Value,
}

fn played(s: &Session) -> Vec<Played<'_>> {
    s.steps
        .iter()
        .filter_map(|st| {
            let (req, resp) = (st.request.as_ref()?, st.response.as_ref()?);
            Some(Played {
                name: &st.name,
                op: st.op.as_deref().unwrap_or(""),
                method: &req.method,
                path: &req.path,
                status: resp.status,
                headers: &resp.headers,
                body: &resp.body,
            })
        })
        .collect()
}

fn path_only(p: &str) -> &str {
    p.split('?').next().unwrap_or(p)
}

fn method(m: &str) -> httpmock::Method {
    match m {
        "GET" => GET,
        "POST" => POST,
        "PUT" => PUT,
        "DELETE" => DELETE,
        other => panic!("method {other}"),
    }
}

/// The recorded answer, as the host sent it (JSON, or the raw text of an SSE or
/// plain-text answer).
fn respond(then: httpmock::Then, p: &Played<'_>) {
    let mut then = then.status(p.status);
    for (k, v) in p.headers {
        then = then.header(k.as_str(), v.as_str());
    }
    match p.body {
        Value::String(text) => {
            then.body(text.as_str());
        }
        other => {
            then.body(other.to_string());
        }
    }
}

/// A mock host that answers `main` first, and every other recorded request of the
/// session (its first answer per method and path) for the follow-up calls an
/// operation makes (a re-read, a schedulable switch).
fn serve<'a>(all: &[Played<'a>], main: &Played<'a>) -> MockServer {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(method(main.method)).path(path_only(main.path));
        respond(then, main);
    });
    let mut seen = BTreeSet::from([(main.method, path_only(main.path))]);
    for p in all {
        if seen.insert((p.method, path_only(p.path))) {
            server.mock(|when, then| {
                when.method(method(p.method)).path(path_only(p.path));
                respond(then, p);
            });
        }
    }
    server
}

fn client(server: &MockServer) -> Sub2ApiClient {
    Sub2ApiClient::new(HostConfig {
        base_url: server.base_url(),
        auth: AdminAuth::ApiKey(Secret::new("admin-replay")),
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(5),
        max_read_retries: 0,
    })
    .expect("client")
}

/// The id in `…/<kind>/<id>[/…]` of a recorded path.
fn id_after(path: &str, kind: &str) -> ObjectId {
    let path = path_only(path);
    let mut parts = path.split('/');
    while let Some(p) = parts.next() {
        if p == kind {
            if let Some(id) = parts.next().and_then(|s| s.parse().ok()) {
                return id;
            }
        }
    }
    panic!("no {kind} id in {path}")
}

fn session_of(user_id: ObjectId) -> UserSession {
    UserSession {
        user_id,
        email: "rec-subscriber@relay-manager.invalid".into(),
        access_token: Secret::new("user-jwt-replay"),
        expires_in: None,
    }
}

fn new_account(name: &str, group: ObjectId) -> NewAccount {
    NewAccount {
        name: name.into(),
        notes: None,
        platform: "openai".into(),
        account_type: "apikey".into(),
        credentials: AccountCredentials {
            api_key: Some(Secret::new("sk-replay-upstream")),
            base_url: Some("http://127.0.0.1:9".into()),
            ..AccountCredentials::default()
        },
        extra: Map::new(),
        group_ids: vec![group],
        concurrency: None,
        priority: None,
    }
}

/// What an operation returned, reduced to what the checks read.
#[derive(Debug)]
enum Got {
    /// Success; the value holds what to compare (an id, a count, a status).
    Ok(Value),
    /// A typed host error.
    Err(HostError),
}

fn ok<T>(r: Result<T, HostError>, f: impl FnOnce(T) -> Value) -> Got {
    match r {
        Ok(v) => Got::Ok(f(v)),
        Err(e) => Got::Err(e),
    }
}

fn id(v: ObjectId) -> Value {
    Value::from(v)
}

/// Runs the adapter operation of a recorded step. `None`: the op is checked
/// elsewhere (the capability probe) or is not an adapter operation.
fn run(c: &Sub2ApiClient, p: &Played<'_>) -> Option<Got> {
    let path = p.path;
    Some(match p.op {
        "version" => ok(c.version(), Value::from),
        "compliance" => ok(c.compliance(), |s| {
            Value::from(s.map(|s| s.required).unwrap_or(false))
        }),
        "public_settings" => ok(c.public_settings(), |s| Value::from(s.version)),
        "list_groups" => ok(c.list_groups(&GroupFilter::default()), |v| {
            Value::from(v.len())
        }),
        "get_group" => ok(c.get_group(id_after(path, "groups")), |g| id(g.id)),
        "create_group" => ok(
            c.create_group(&NewGroup {
                name: "rec-deepseek-sub".into(),
                description: None,
                platform: "openai".into(),
                rate_multiplier: 1.0,
                is_exclusive: true,
                subscription_type: subscription_type::SUBSCRIPTION.into(),
                daily_limit_usd: None,
                weekly_limit_usd: None,
                monthly_limit_usd: None,
            }),
            |g| id(g.id),
        ),
        "update_group" => ok(
            c.update_group(id_after(path, "groups"), &GroupUpdate::default()),
            |g| id(g.id),
        ),
        "delete_group" => ok(c.delete_group(id_after(path, "groups")), |_| Value::Null),
        "list_group_keys" => ok(c.list_group_keys(id_after(path, "groups")), |v| {
            Value::from(v.len())
        }),
        "list_channels" => ok(c.list_channels(None), |v| Value::from(v.len())),
        "get_channel" => ok(c.get_channel(id_after(path, "channels")), |ch| id(ch.id)),
        "create_channel" => ok(
            c.create_channel(&NewChannel {
                name: "rec-deepseek-sub".into(),
                ..NewChannel::default()
            }),
            |ch| id(ch.id),
        ),
        "delete_channel" => ok(c.delete_channel(id_after(path, "channels")), |_| {
            Value::Null
        }),
        "list_plans" => ok(c.list_plans(), |v| Value::from(v.len())),
        "create_plan" => ok(
            c.create_plan(&NewPlan {
                group_id: 1,
                name: "rec-deepseek-sub".into(),
                description: None,
                price: 9.9,
                original_price: None,
                validity_days: 30,
                validity_unit: "day".into(),
                for_sale: Some(false),
            }),
            |pl| id(pl.id),
        ),
        "update_plan" => ok(
            c.update_plan(id_after(path, "plans"), &PlanUpdate::default()),
            |pl| id(pl.id),
        ),
        "delete_plan" => ok(c.delete_plan(id_after(path, "plans")), |_| Value::Null),
        "create_account" => ok(
            c.create_account(&new_account("rec-good", 1), Some("rec-key")),
            |a| id(a.id),
        ),
        "create_accounts_batch" => ok(
            c.create_accounts_batch(
                // As recorded: three items, the third for a missing group.
                &[
                    new_account("rec-batch-1", 1),
                    new_account("rec-batch-2", 1),
                    new_account("rec-batch-bad", 999_999),
                ],
                Some("rec-batch"),
            ),
            |r| {
                serde_json::json!({
                    "success": r.success,
                    "failed": r.failed,
                    "ids": r.results.iter().map(|i| i.id).collect::<Vec<_>>(),
                })
            },
        ),
        "get_account" => ok(
            c.get_account(id_after(path, "accounts")),
            |a| serde_json::json!({"id": a.id, "status": a.status, "schedulable": a.schedulable}),
        ),
        "list_accounts" => ok(c.list_accounts(&AccountFilter::default()), |v| {
            Value::from(v.len())
        }),
        "update_account" => ok(
            c.update_account(id_after(path, "accounts"), &AccountUpdate::default()),
            |a| id(a.id),
        ),
        "set_account_schedulable" => ok(
            c.set_account_schedulable(id_after(path, "accounts"), true),
            |a| Value::from(a.schedulable),
        ),
        "clear_account_error" => ok(
            c.clear_account_error(id_after(path, "accounts")),
            |a| serde_json::json!({"status": a.status, "schedulable": a.schedulable}),
        ),
        "recover_account_state" => ok(c.recover_account_state(id_after(path, "accounts")), |a| {
            Value::from(a.status)
        }),
        "batch_clear_account_errors" => ok(c.clear_account_errors(&[1]), |r| {
            Value::from(r.failed.len())
        }),
        "clear_account_temp_unschedulable" => ok(
            c.clear_account_temp_unschedulable(id_after(path, "accounts")),
            Value::from,
        ),
        "delete_account" => ok(c.delete_account(id_after(path, "accounts")), |_| {
            Value::Null
        }),
        "account_models" => ok(c.account_models(id_after(path, "accounts")), |v| {
            Value::from(v)
        }),
        "test_account" => ok(
            c.test_account(id_after(path, "accounts"), Some("deepseek-flash")),
            |r| {
                serde_json::json!({
                    "passed": r.outcome == ProbeOutcome::Passed,
                    "http_status": r.http_status,
                    "message": r.message,
                })
            },
        ),
        "create_user" => ok(
            c.create_user(&NewUser {
                email: "rec-subscriber@relay-manager.invalid".into(),
                password: Secret::new("pw-replay"),
                username: None,
                notes: None,
                balance: None,
                concurrency: None,
                allowed_groups: Vec::new(),
            }),
            |u| id(u.id),
        ),
        "find_user_by_email" => ok(
            c.find_user_by_email("rec-subscriber@relay-manager.invalid"),
            |u| Value::from(u.map(|u| u.id)),
        ),
        "get_user" => ok(c.get_user(id_after(path, "users")), |u| id(u.id)),
        "set_user_balance" => ok(
            c.set_user_balance(
                id_after(path, "users"),
                &BalanceChange {
                    amount: 1.0,
                    operation: BalanceOperation::Set,
                    notes: None,
                },
                Some("rec-balance"),
            ),
            |u| id(u.id),
        ),
        "delete_user" => ok(c.delete_user(id_after(path, "users")), |_| Value::Null),
        "list_user_keys_admin" => ok(c.list_user_keys_admin(id_after(path, "users")), |v| {
            Value::from(v.len())
        }),
        "rebind_user_key" => ok(
            c.rebind_user_key(
                id_after(path, "api-keys"),
                p.body["data"]["group_id"].as_i64().unwrap_or(1),
            ),
            |k| Value::from(k.group_id),
        ),
        "assign_subscription" => ok(
            c.assign_subscription(&SubscriptionAssignment {
                user_id: 1,
                group_id: 1,
                validity_days: Some(30),
                notes: None,
            }),
            |o| match o {
                AssignOutcome::Assigned(s) => serde_json::json!({"assigned": s.id}),
                AssignOutcome::Conflict { reason, .. } => serde_json::json!({"conflict": reason}),
            },
        ),
        "list_subscriptions" => ok(
            c.list_subscriptions(&SubscriptionFilter {
                user_id: None,
                group_id: None,
            }),
            |v| Value::from(v.len()),
        ),
        "revoke_subscription" => ok(
            c.revoke_subscription(id_after(path, "subscriptions")),
            |_| Value::Null,
        ),
        "login_user" => ok(
            c.login_user(
                "rec-subscriber@relay-manager.invalid",
                &Secret::new("pw-replay"),
            ),
            |o| match o {
                LoginOutcome::LoggedIn(s) => serde_json::json!({"user_id": s.user_id}),
                LoginOutcome::Blocked(b) => serde_json::json!({"blocked": format!("{b:?}")}),
            },
        ),
        "create_user_key" => ok(
            c.create_user_key(
                &session_of(1),
                &NewUserKey {
                    name: "rec-subscriber-key".into(),
                    group_id: 1,
                    custom_key: Some(Secret::new("sk-crm-replay")),
                },
                Some("rec-key"),
            ),
            |k| id(k.id),
        ),
        "list_user_keys" => ok(c.list_user_keys(&session_of(1)), |v| Value::from(v.len())),
        "delete_user_key" => ok(
            c.delete_user_key(&session_of(1), id_after(path, "keys")),
            |_| Value::Null,
        ),
        "gateway_models" => ok(
            c.gateway_models(&Secret::new("sk-user-replay")),
            |m| serde_json::json!({"status": m.http_status, "models": m.models, "failure": m.failure().map(|f| format!("{f:?}"))}),
        ),
        "gateway_chat" | "gateway_chat_stream" => ok(
            c.gateway_chat(
                &Secret::new("sk-user-replay"),
                &ChatProbeRequest {
                    model: "deepseek-flash".into(),
                    max_tokens: 8,
                    stream: p.op == "gateway_chat_stream",
                },
            ),
            |r| {
                serde_json::json!({
                    "status": r.http_status,
                    "ok": r.ok,
                    "preview": r.preview,
                    "failure": r.failure().map(|f| format!("{f:?}")),
                })
            },
        ),
        // The capability probe reads these together (see `capabilities_*`); the
        // admin's own login is not an adapter operation of the replay.
        _ if p.op.starts_with("probe") || p.op.starts_with("gateway_") || p.op == "login" => {
            return None
        }
        other => panic!("step {}: no replay for op {other:?}", p.name),
    })
}

/// The error a non-2xx admin answer must become.
fn expected_error(p: &Played<'_>) -> &'static str {
    let code = p.body["reason"]
        .as_str()
        .or_else(|| p.body["code"].as_str())
        .unwrap_or("");
    match (p.status, &p.body) {
        (404, Value::String(_)) => "UnsupportedRoute",
        (404, _) => "NotFound",
        (423, _) => "ComplianceRequired",
        (409, _) if code == IDEMPOTENCY_IN_PROGRESS || code == IDEMPOTENCY_RETRY_BACKOFF => {
            "IdempotencyPending"
        }
        (409, _) => "Conflict",
        (401, _) => "Unauthorized",
        (403, _) => "Forbidden",
        (429, _) => "RateLimited",
        _ => "Host",
    }
}

fn kind(e: &HostError) -> &'static str {
    match e {
        HostError::Config(_) => "Config",
        HostError::Unauthorized(_) => "Unauthorized",
        HostError::Forbidden(_) => "Forbidden",
        HostError::NotFound(_) => "NotFound",
        HostError::UnsupportedRoute { .. } => "UnsupportedRoute",
        HostError::Conflict(_) => "Conflict",
        HostError::IdempotencyPending { .. } => "IdempotencyPending",
        HostError::RateLimited { .. } => "RateLimited",
        HostError::ComplianceRequired(_) => "ComplianceRequired",
        HostError::Host { .. } => "Host",
        HostError::Transport(_) => "Transport",
        HostError::Decode(_) => "Decode",
    }
}

/// Ops whose answers are data (or outcomes) whatever the status.
const AS_DATA: &[&str] = &[
    "test_account",
    "gateway_models",
    "gateway_chat",
    "gateway_chat_stream",
    "assign_subscription",
    "login_user",
];

/// Ops for which a build without the route is an answer, and the value it reads as:
/// no compliance gate (`required: false`), no temporary-unschedulable state to clear.
const ABSENT_MEANS: &[(&str, bool)] = &[
    ("compliance", false),
    ("clear_account_temp_unschedulable", false),
];

/// Checks one replayed step; returns what is wrong.
fn check(p: &Played<'_>, got: &Got) -> Option<String> {
    let envelope_ok = (200..300).contains(&p.status)
        && (p.body.get("code").is_none_or(|c| c == 0) || !p.body.is_object());
    // 0.1.27's batch route is a placeholder: success for every item, no results,
    // nothing created. The adapter must not trust it.
    let placeholder = p.op == "create_accounts_batch"
        && envelope_ok
        && p.body["data"]["results"]
            .as_array()
            .is_some_and(Vec::is_empty)
        && p.body["data"]["success"].as_u64().unwrap_or(0) > 0;
    match got {
        Got::Err(HostError::UnsupportedRoute { .. }) if placeholder => None,
        Got::Ok(v) if placeholder => Some(format!("the placeholder batch was trusted: {v}")),
        Got::Err(e) if AS_DATA.contains(&p.op) => Some(format!(
            "answered as data on the host, but the adapter failed: {e}"
        )),
        Got::Err(e) if envelope_ok => Some(format!("a success on the host, an error here: {e}")),
        Got::Err(e) => {
            let want = expected_error(p);
            if kind(e) != want {
                return Some(format!("expected {want}, got {} ({e})", kind(e)));
            }
            let code = p.body["reason"]
                .as_str()
                .or_else(|| p.body["code"].as_str());
            if let (Some(code), HostError::Host { .. } | HostError::Conflict(_)) = (code, e) {
                if e.code().as_deref() != Some(code) {
                    return Some(format!("code {:?}, the host said {code}", e.code()));
                }
            }
            None
        }
        // A build without the route has nothing to report: no lock, nothing to clear.
        Got::Ok(v)
            if p.status == 404
                && p.body.is_string()
                && ABSENT_MEANS.iter().any(|(op, _)| *op == p.op) =>
        {
            let want = ABSENT_MEANS
                .iter()
                .find(|(op, _)| *op == p.op)
                .map(|(_, w)| w);
            (want != Some(&v.as_bool().unwrap_or(true)))
                .then(|| format!("a missing route read as {v}"))
        }
        Got::Ok(_) if !envelope_ok && !AS_DATA.contains(&p.op) => {
            // A placeholder 2xx of an old build is the adapter's to refuse; any other
            // error answer must not pass as a success.
            Some(format!(
                "the host answered {} {}, the adapter returned Ok",
                p.status, p.body
            ))
        }
        Got::Ok(v) => {
            let data = &p.body["data"];
            match p.op {
                "version" => (v != &data["version"]).then(|| format!("version {v}")),
                "get_group" | "create_group" | "update_group" | "get_channel"
                | "create_channel" | "create_plan" | "update_plan" | "create_user" | "get_user"
                | "create_user_key" | "set_user_balance"
                    if data.get("id").is_some() =>
                {
                    (v != &data["id"]).then(|| format!("id {v}, recorded {}", data["id"]))
                }
                "create_account" if data.get("id").is_some() => {
                    (v != &data["id"]).then(|| format!("id {v}, recorded {}", data["id"]))
                }
                "account_models" => {
                    let ids: Vec<Value> = data
                        .as_array()
                        .map(|a| a.iter().map(|m| m["id"].clone()).collect())
                        .unwrap_or_default();
                    (v != &Value::Array(ids)).then(|| format!("models {v}"))
                }
                _ => None,
            }
        }
    }
}

/// Replays every step of a session; returns the failures and the ops replayed.
fn replay(release: &str) -> (Vec<String>, BTreeSet<String>, Vec<(String, Value)>) {
    let s = session(release);
    let all = played(&s);
    let mut failures = Vec::new();
    let mut ops = BTreeSet::new();
    let mut values = Vec::new();
    for p in &all {
        if p.op.is_empty() {
            continue;
        }
        let server = serve(&all, p);
        let c = client(&server);
        let Some(got) = run(&c, p) else { continue };
        ops.insert(p.op.to_string());
        if let Some(why) = check(p, &got) {
            failures.push(format!("{release} {} ({}): {why}", p.name, p.op));
        }
        if let Got::Ok(v) = &got {
            values.push((p.name.to_string(), v.clone()));
        }
        if let Got::Err(e) = &got {
            values.push((p.name.to_string(), Value::from(format!("{} {e}", kind(e)))));
        }
    }
    (failures, ops, values)
}

fn value<'a>(values: &'a [(String, Value)], name: &str) -> &'a Value {
    &values
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("step {name} was not replayed"))
        .1
}

#[test]
fn every_answer_of_a_real_0_1_179_host_is_understood() {
    let (failures, ops, v) = replay("0.1.179");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Every adapter operation the product uses was recorded.
    for op in [
        "version",
        "compliance",
        "create_group",
        "create_channel",
        "create_plan",
        "delete_plan",
        "create_account",
        "create_accounts_batch",
        "test_account",
        "account_models",
        "recover_account_state",
        "batch_clear_account_errors",
        "set_account_schedulable",
        "clear_account_error",
        "create_user",
        "set_user_balance",
        "assign_subscription",
        "login_user",
        "create_user_key",
        "rebind_user_key",
        "revoke_subscription",
        "gateway_models",
        "gateway_chat",
        "gateway_chat_stream",
    ] {
        assert!(ops.contains(op), "{op} not replayed");
    }
    // The lock is its own error; the status route still answers.
    assert!(value(&v, "compliance-locked-groups")
        .as_str()
        .unwrap()
        .starts_with("ComplianceRequired"));
    assert_eq!(value(&v, "compliance-status"), &Value::from(true));
    // Account tests over Chat Completions carry the vendor's status.
    assert_eq!(value(&v, "account-test-ok")["passed"], true);
    for (step, status) in [
        ("account-test-invalid", 401),
        ("account-test-quota", 402),
        ("account-test-ratelimit", 429),
    ] {
        assert_eq!(value(&v, step)["http_status"], status, "{step}");
        assert_eq!(value(&v, step)["passed"], false, "{step}");
    }
    assert_eq!(
        value(&v, "account-test-missing")["message"],
        "Account not found"
    );
    // Clearing an error puts the account back into scheduling.
    assert_eq!(
        value(&v, "account-clear-error"),
        &serde_json::json!({"status": "active", "schedulable": true})
    );
    // A replayed create is the same account; a reused key with another body is a conflict.
    assert_eq!(
        value(&v, "account-create-replayed"),
        value(&v, "account-create")
    );
    assert!(value(&v, "account-create-key-reused-other-body")
        .as_str()
        .unwrap()
        .starts_with("Conflict"));
    // Plans: a missing one is a bare 500 on this release.
    assert!(value(&v, "plan-delete-missing")
        .as_str()
        .unwrap()
        .starts_with("Host"));
    // Batch create: the refused item has no id.
    assert_eq!(value(&v, "account-batch-create")["failed"], 1);
    // Subscriptions: idempotent assign, conflicts with their reason, revoked left out.
    assert_eq!(
        value(&v, "subscription-assign"),
        value(&v, "subscription-assign-again")
    );
    assert_eq!(
        value(&v, "subscription-assign-conflict"),
        &serde_json::json!({"conflict": "validity_days_mismatch"})
    );
    assert_eq!(value(&v, "subscription-list-after-revoke"), &Value::from(0));
    assert!(value(&v, "user-login-wrong-password")["blocked"]
        .as_str()
        .unwrap()
        .contains("InvalidCredentials"));
    // The gateway: a proof, and each failure read for what it is.
    assert_eq!(value(&v, "gateway-chat")["preview"], "pong");
    assert_eq!(value(&v, "gateway-chat-stream")["ok"], true);
    assert_eq!(
        value(&v, "gateway-models")["models"],
        serde_json::json!(["deepseek-chat", "deepseek-flash"])
    );
    for (step, failure) in [
        ("gateway-chat-unmapped-model", "ModelNotSupported"),
        ("gateway-chat-invalid-key", "KeyRefused"),
        ("gateway-chat-vendor-402", "UpstreamFailed"),
        ("gateway-chat-no-accounts", "NoAvailableAccount"),
    ] {
        assert_eq!(value(&v, step)["failure"], failure, "{step}");
    }
    // The vendor's 402 left the account in error, out of scheduling.
    assert_eq!(value(&v, "account-after-vendor-402")["status"], "error");
    assert_eq!(value(&v, "account-after-vendor-402")["schedulable"], false);
}

#[test]
fn every_answer_of_the_old_0_1_27_line_is_understood() {
    let (failures, _ops, v) = replay("0.1.27");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // What the old line lacks is a missing route, never a missing object.
    for step in [
        "channel-create",
        "plan-create",
        "account-recover-state",
        "account-batch-clear-error",
        "api-key-rebind",
    ] {
        assert!(
            value(&v, step)
                .as_str()
                .unwrap_or("")
                .starts_with("UnsupportedRoute"),
            "{step}: {}",
            value(&v, step)
        );
    }
    // No compliance gate on this line.
    assert_eq!(value(&v, "compliance-status"), &Value::from(false));
    // Its batch route is a placeholder that creates nothing: refused, not trusted.
    assert!(value(&v, "account-batch-create")
        .as_str()
        .unwrap_or("")
        .starts_with("UnsupportedRoute"));
}

/// The capability probe's calls, answered as the recorded host answered them.
fn capabilities(release: &str) -> (Capabilities, GatewayReachability) {
    let s = session(release);
    let all = played(&s);
    let probes: Vec<&Played<'_>> = all
        .iter()
        .filter(|p| p.name.starts_with("probe-") || p.name == "version")
        .collect();
    let server = MockServer::start();
    for p in &probes {
        server.mock(|when, then| {
            when.method(method(p.method)).path(path_only(p.path));
            respond(then, p);
        });
    }
    let c = client(&server);
    c.capabilities_with_gateway().expect("probe")
}

#[test]
fn capabilities_read_from_a_real_0_1_179_host() {
    let (caps, gateway) = capabilities("0.1.179");
    assert!(
        caps.groups
            && caps.channels
            && caps.plans
            && caps.accounts
            && caps.account_test
            && caps.account_models
            && caps.subscriptions
            && caps.users
            && caps.user_keys
            && caps.chat_completions,
        "{caps:?}"
    );
    assert!(gateway.api_key_required, "{gateway:?}");
}

#[test]
fn capabilities_read_from_the_old_0_1_27_line_name_what_it_lacks() {
    let (caps, gateway) = capabilities("0.1.27");
    assert!(
        caps.groups && caps.accounts && caps.users && caps.subscriptions,
        "{caps:?}"
    );
    assert!(!caps.channels, "no channels API on 0.1.27");
    assert!(!caps.plans, "no payment plans on 0.1.27");
    assert!(!caps.chat_completions, "no /v1/chat/completions on 0.1.27");
    assert!(gateway.api_key_required, "{gateway:?}");
}
