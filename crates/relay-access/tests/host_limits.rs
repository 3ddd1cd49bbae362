//! The subscription closure against a host that enforces `Idempotency-Key`, limits
//! logins per client and locks chosen keys after failed creates (as the real host does).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use relay_access::*;
use relay_core::*;
use relay_domain::{AccessStatus, ResourceState, ResourceType};
use relay_sub2api::{
    subscription_type, BalanceChange, BalanceOperation, HostAdapter, LoginOutcome, NewUserKey,
    ObjectId,
};
use relay_testkit::access::{settings, Env};
use serde_json::Value;
use sub2api_mock::HostPolicy;

fn sub_access(subscribers: &[&str]) -> SubscriptionAccess {
    let mut a = SubscriptionAccess::new(
        30,
        "managed by relay-manager: test-pack/deepseek",
        "crm-test-key",
    );
    a.subscribers = subscribers
        .iter()
        .map(|e| SubscriberSelector::Email(e.to_string()))
        .collect();
    a
}

fn plan(group_id: ObjectId, sub: SubscriptionAccess) -> AccessPlan {
    AccessPlan {
        group_id,
        subscription: Some(sub),
        supplied_key: None,
        probe: settings(),
    }
}

/// Deterministic randomness: the same sequence for every instance.
#[derive(Default)]
struct Counter(AtomicU64);

impl Randomness for Counter {
    fn fill(&self, buf: &mut [u8]) {
        for b in buf.iter_mut() {
            *b = (self.0.fetch_add(1, Ordering::Relaxed) % 251) as u8;
        }
    }
}

fn user_id(env: &Env, email: &str) -> ObjectId {
    env.state_list("users")
        .iter()
        .find(|u| u["email"] == email)
        .and_then(|u| u["id"].as_i64())
        .expect("user")
}

fn route_calls(env: &Env, route: &str) -> u64 {
    env.host.state()["counters"]["by_route"][route]
        .as_u64()
        .unwrap_or(0)
}

#[test]
fn an_enforcing_host_gets_a_key_on_the_top_up_and_the_key_create() {
    let env = Env::start();
    let (group, _) = env.group_with_account(
        "crm-t-enf",
        subscription_type::SUBSCRIPTION,
        "sk-good-1",
        true,
    );
    env.host.set_policy(HostPolicy {
        idempotency_enforced: true,
        ..HostPolicy::default()
    });
    let report = close_access(&env.ports(), &plan(group.id, sub_access(&[]))).unwrap();
    assert_eq!(
        report.status,
        AccessStatus::SubscriptionReady,
        "{report:#?}"
    );
    // The probe user starts with the access balance; spend it, and the next closure
    // tops it up (a guarded write) and still works.
    let uid = user_id(&env, DEFAULT_PROBE_EMAIL);
    env.client
        .set_user_balance(
            uid,
            &BalanceChange {
                amount: 0.25,
                operation: BalanceOperation::Set,
                notes: None,
            },
            Some("test-spend-1"),
        )
        .unwrap();
    let again = close_access(&env.ports(), &plan(group.id, sub_access(&[]))).unwrap();
    assert_eq!(again.status, AccessStatus::SubscriptionReady, "{again:#?}");
    assert_eq!(
        env.client.get_user(uid).unwrap().balance,
        DEFAULT_PROBE_BALANCE_USD
    );
}

#[test]
fn a_replayed_older_top_up_moves_on_to_a_fresh_key() {
    let env = Env::start();
    let (group, _) = env.group_with_account(
        "crm-t-bal",
        subscription_type::SUBSCRIPTION,
        "sk-good-1",
        true,
    );
    close_access(&env.ports(), &plan(group.id, sub_access(&[]))).unwrap();
    let uid = user_id(&env, DEFAULT_PROBE_EMAIL);
    let spend = |key: &str| {
        env.client
            .set_user_balance(
                uid,
                &BalanceChange {
                    amount: 0.25,
                    operation: BalanceOperation::Set,
                    notes: None,
                },
                Some(key),
            )
            .unwrap();
    };
    const ROUTE: &str = "POST /api/v1/admin/users/:id/balance";
    spend("test-spend-1");
    close_access(&env.ports(), &plan(group.id, sub_access(&[]))).unwrap();
    assert_eq!(route_calls(&env, ROUTE), 2, "one top-up");
    assert_eq!(env.client.get_user(uid).unwrap().balance, 1.0);
    // The same balance seen again in the same batch: the first key replays the
    // earlier top-up, which no longer holds, so a second key tops up for real.
    spend("test-spend-2");
    let report = close_access(&env.ports(), &plan(group.id, sub_access(&[]))).unwrap();
    assert_eq!(
        report.status,
        AccessStatus::SubscriptionReady,
        "{report:#?}"
    );
    assert_eq!(route_calls(&env, ROUTE), 5, "a replay and a fresh top-up");
    assert_eq!(env.client.get_user(uid).unwrap().balance, 1.0);
}

#[test]
fn an_existing_chosen_key_is_adopted_by_listing_not_created_again() {
    let env = Env::start();
    let (group, _) = env.group_with_account(
        "crm-t-key",
        subscription_type::SUBSCRIPTION,
        "sk-good-1",
        true,
    );
    let random = Counter::default();
    let ports = Ports {
        random: &random,
        ..env.ports()
    };
    close_access(&ports, &plan(group.id, sub_access(&[]))).unwrap();
    let uid = user_id(&env, DEFAULT_PROBE_EMAIL);
    // The same randomness predicts the next chosen key (a password, a key, then the
    // next key). Create it on the host as the user, as if an earlier create had
    // succeeded without its answer reaching the manager, and make the vault forget
    // the first key so the closure creates the next one.
    let twin = Counter::default();
    generate_password(&twin);
    generate_user_key(&twin);
    let next = generate_user_key(&twin);
    env.vault
        .remove_user_key(DEFAULT_PROBE_EMAIL, group.id)
        .unwrap();
    let password = env
        .vault
        .subscriber(DEFAULT_PROBE_EMAIL)
        .unwrap()
        .unwrap()
        .password;
    let LoginOutcome::LoggedIn(session) = env
        .client
        .login_user(DEFAULT_PROBE_EMAIL, &password)
        .unwrap()
    else {
        panic!("login")
    };
    let existing = env
        .client
        .create_user_key(
            &session,
            &NewUserKey {
                name: "crm-test-key".into(),
                group_id: group.id,
                custom_key: Some(next.clone()),
            },
            Some("test-preexisting"),
        )
        .unwrap();

    let report = close_access(&ports, &plan(group.id, sub_access(&[]))).unwrap();
    assert_eq!(
        report.status,
        AccessStatus::SubscriptionReady,
        "{report:#?}"
    );
    let probe = &report.subscription_detail.as_ref().unwrap().subscribers[0];
    assert_eq!(probe.key_id, Some(existing.id));
    // Exactly one API_KEY_EXISTS: the manager listed instead of retrying (three
    // creates in all: the first closure's, the test's own and the refused one).
    assert_eq!(route_calls(&env, "POST /api/v1/keys"), 3);
    assert_eq!(
        env.host.state()["limits"]["key_create_failures"][uid.to_string()],
        1
    );
    let adopted: Vec<_> = env
        .journal
        .entries()
        .into_iter()
        .filter(|e| e.resource_type == ResourceType::UserKey)
        .map(|e| (e.state, e.host_resource_id))
        .collect();
    assert!(
        adopted.contains(&(ResourceState::Adopted, Some(existing.id))),
        "{adopted:?}"
    );
    assert_eq!(
        env.vault.user_key(DEFAULT_PROBE_EMAIL, group.id).unwrap(),
        Some(next)
    );
}

#[test]
fn a_host_that_locked_chosen_keys_is_reported_with_the_fix_and_not_hammered() {
    let env = Env::start();
    env.host.set_policy(HostPolicy {
        api_key_failure_limit: 0,
        ..HostPolicy::default()
    });
    let (group, _) = env.group_with_account(
        "crm-t-lock",
        subscription_type::SUBSCRIPTION,
        "sk-good-1",
        true,
    );
    let report = close_access(&env.ports(), &plan(group.id, sub_access(&[]))).unwrap();
    assert_eq!(report.status, AccessStatus::Broken, "{report:#?}");
    let problems = report.problems();
    assert_eq!(problems[0].code, "key_create_locked", "{problems:#?}");
    assert!(problems[0].message.contains("24 h"));
    assert!(env.state_list("api_keys").is_empty());
    assert_eq!(
        route_calls(&env, "POST /api/v1/keys"),
        1,
        "no retry of a lock"
    );
    let entry = env
        .journal
        .entries()
        .into_iter()
        .find(|e| e.resource_type == ResourceType::UserKey)
        .unwrap();
    assert_eq!(entry.state, ResourceState::Absent);
}

#[test]
fn bulk_subscribers_wait_out_the_login_limiter() {
    let env = Env::start();
    env.host.set_policy(HostPolicy {
        login_rate_limit: 2,
        login_rate_window_secs: 2,
        ..HostPolicy::default()
    });
    let (group, _) = env.group_with_account(
        "crm-t-bulk",
        subscription_type::SUBSCRIPTION,
        "sk-good-1",
        true,
    );
    let started = Instant::now();
    let emails = ["bulk-1@relay.example", "bulk-2@relay.example"];
    let report = close_access(&env.ports(), &plan(group.id, sub_access(&emails))).unwrap();
    assert_eq!(
        report.status,
        AccessStatus::SubscriptionReady,
        "{report:#?}"
    );
    let detail = report.subscription_detail.as_ref().unwrap();
    assert_eq!(detail.subscribers.len(), 3);
    for s in &detail.subscribers {
        assert!(s.problems.is_empty(), "{s:#?}");
        assert!(s.key_created, "{s:#?}");
    }
    // Three logins, two per window: the third waited for the next window.
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(
        route_calls(&env, "POST /api/v1/auth/login"),
        4,
        "one refused"
    );
    assert_eq!(env.state_list("api_keys").len(), 3);
    // A second closure reuses the stored keys: no login at all.
    let ids = |env: &Env| -> Vec<Value> {
        env.state_list("api_keys")
            .iter()
            .map(|k| k["id"].clone())
            .collect()
    };
    let before = ids(&env);
    let started = Instant::now();
    let again = close_access(&env.ports(), &plan(group.id, sub_access(&emails))).unwrap();
    assert_eq!(again.status, AccessStatus::SubscriptionReady);
    assert_eq!(ids(&env), before);
    assert_eq!(route_calls(&env, "POST /api/v1/auth/login"), 4, "no login");
    assert!(started.elapsed() < Duration::from_secs(2));
}
