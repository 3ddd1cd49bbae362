//! Behaviour tests: every `HostAdapter` method against the in-process
//! `sub2api-mock` host, asserting on the host's resulting state.

use std::time::{Duration, Instant};

use relay_domain::Secret;
use relay_sub2api::*;
use serde_json::{json, Value};
use sub2api_mock::{Faults, MockConfig, MockHost};

const VENDOR_BASE: &str = "https://api.deepseek.com/v1";
const MODEL: &str = "deepseek-chat";

fn start() -> (MockHost, Sub2ApiClient) {
    let host = MockHost::start(MockConfig::default()).expect("mock host");
    let client = Sub2ApiClient::new(HostConfig {
        base_url: host.base_url(),
        auth: AdminAuth::ApiKey(Secret::new(host.admin_api_key())),
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(15),
        max_read_retries: 2,
    })
    .expect("client");
    (host, client)
}

fn state_list(host: &MockHost, kind: &str) -> Vec<Value> {
    host.state()[kind].as_array().cloned().unwrap_or_default()
}

fn state_ids(host: &MockHost, kind: &str) -> Vec<i64> {
    state_list(host, kind)
        .iter()
        .filter_map(|v| v["id"].as_i64())
        .collect()
}

fn new_group(name: &str, kind: &str) -> NewGroup {
    NewGroup {
        name: name.into(),
        description: Some("relay test".into()),
        platform: "openai".into(),
        rate_multiplier: 1.0,
        is_exclusive: false,
        subscription_type: kind.into(),
        daily_limit_usd: None,
        weekly_limit_usd: None,
        monthly_limit_usd: Some(100.0),
    }
}

fn new_account(name: &str, key: &str, group: ObjectId) -> NewAccount {
    let mut extra = serde_json::Map::new();
    extra.insert(
        "openai_responses_mode".into(),
        json!("force_chat_completions"),
    );
    extra.insert("openai_responses_supported".into(), json!(false));
    NewAccount {
        name: name.into(),
        notes: Some("relay test".into()),
        platform: "openai".into(),
        account_type: "apikey".into(),
        credentials: AccountCredentials {
            api_key: Some(Secret::new(key)),
            base_url: Some(VENDOR_BASE.into()),
            model_mapping: [(MODEL.to_owned(), MODEL.to_owned())].into_iter().collect(),
            other: serde_json::Map::new(),
        },
        extra,
        group_ids: vec![group],
        concurrency: Some(2),
        priority: None,
    }
}

fn new_user(email: &str, groups: Vec<ObjectId>) -> NewUser {
    NewUser {
        email: email.into(),
        password: Secret::new("probe-Pa55word"),
        username: Some("relay-probe".into()),
        notes: None,
        balance: None,
        concurrency: None,
        allowed_groups: groups,
    }
}

fn logged_in(client: &Sub2ApiClient, email: &str) -> UserSession {
    match client
        .login_user(email, &Secret::new("probe-Pa55word"))
        .unwrap()
    {
        LoginOutcome::LoggedIn(s) => s,
        other => panic!("login: {other:?}"),
    }
}

fn chat(stream: bool) -> ChatProbeRequest {
    ChatProbeRequest {
        model: MODEL.into(),
        max_tokens: 8,
        stream,
    }
}

// ---------------------------------------------------------------------------

#[test]
fn host_facts_and_capabilities() {
    let (host, c) = start();
    assert_eq!(c.version().unwrap(), sub2api_mock::DEFAULT_HOST_VERSION);
    let s = c.public_settings().unwrap();
    assert_eq!(
        s.version.as_deref(),
        Some(sub2api_mock::DEFAULT_HOST_VERSION)
    );
    assert!(!s.backend_mode_enabled);

    let before = host.state();
    let caps = c.capabilities().unwrap();
    assert!(caps.groups && caps.channels && caps.plans && caps.accounts);
    assert!(caps.account_test && caps.account_models && caps.subscriptions);
    assert!(caps.users && caps.user_keys && caps.chat_completions);
    let after = host.state();
    for kind in [
        "groups",
        "channels",
        "plans",
        "accounts",
        "users",
        "api_keys",
        "subscriptions",
    ] {
        assert_eq!(before[kind], after[kind], "probe changed {kind}");
    }

    let r = c.gateway_reachability().unwrap();
    assert!(r.api_key_required, "{r:?}");
    assert!(r.chat_completions);

    host.set_faults(Faults {
        disable_channels: true,
        disable_payment: true,
        backend_mode: true,
        ..Faults::default()
    });
    let caps = c.capabilities().unwrap();
    assert!(!caps.channels && !caps.plans);
    assert!(caps.groups && caps.accounts);
    assert!(c.public_settings().unwrap().backend_mode_enabled);
    assert!(matches!(
        c.list_plans().unwrap_err(),
        HostError::UnsupportedRoute { .. }
    ));
}

#[test]
fn groups_crud() {
    let (host, c) = start();
    let g = c
        .create_group(&new_group("crm-test-std", subscription_type::STANDARD))
        .unwrap();
    assert_eq!(g.platform, "openai");
    assert_eq!(g.rate_multiplier, 1.0);
    c.create_group(&new_group("crm-test-std-2", subscription_type::STANDARD))
        .unwrap();
    assert!(state_ids(&host, "groups").contains(&g.id));

    let found = c
        .list_groups(&GroupFilter {
            name: Some("crm-test-std".into()),
            platform: Some("openai".into()),
        })
        .unwrap();
    assert_eq!(found.iter().map(|g| g.id).collect::<Vec<_>>(), vec![g.id]);
    assert_eq!(c.list_groups(&GroupFilter::default()).unwrap().len(), 2);
    assert_eq!(c.get_group(g.id).unwrap().name, "crm-test-std");

    let dup = c
        .create_group(&new_group("crm-test-std", subscription_type::STANDARD))
        .unwrap_err();
    assert!(matches!(dup, HostError::Conflict(_)), "{dup:?}");

    let updated = c
        .update_group(
            g.id,
            &GroupUpdate {
                status: Some("inactive".into()),
                rate_multiplier: Some(2.0),
                ..GroupUpdate::default()
            },
        )
        .unwrap();
    assert_eq!(updated.status, "inactive");
    assert_eq!(updated.rate_multiplier, 2.0);

    c.delete_group(g.id).unwrap();
    assert!(!state_ids(&host, "groups").contains(&g.id));
    assert!(c.get_group(g.id).unwrap_err().is_not_found());
    assert!(c.delete_group(g.id).unwrap_err().is_not_found());
}

#[test]
fn channels_crud() {
    let (host, c) = start();
    let g = c
        .create_group(&new_group("crm-chan-g", subscription_type::STANDARD))
        .unwrap();
    let mut mapping = ChannelModelMapping::new();
    mapping.insert(
        "openai".into(),
        [("deepseek-v3".to_owned(), MODEL.to_owned())]
            .into_iter()
            .collect(),
    );
    let ch = c
        .create_channel(&NewChannel {
            name: "crm-chan".into(),
            description: None,
            group_ids: vec![g.id],
            model_mapping: mapping,
            model_pricing: vec![ModelPricing {
                platform: "openai".into(),
                models: vec![MODEL.into()],
                billing_mode: "token".into(),
                input_price: Some(0.00000027),
                output_price: Some(0.0000011),
                ..ModelPricing::default()
            }],
            restrict_models: true,
            billing_model_source: Some("channel_mapped".into()),
        })
        .unwrap();
    assert_eq!(ch.group_ids, vec![g.id]);
    assert!(ch.restrict_models);
    assert_eq!(ch.model_mapping["openai"]["deepseek-v3"], MODEL);
    assert_eq!(ch.model_pricing[0].models, vec![MODEL]);

    let listed = c.list_channels(Some("crm-chan")).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(c.get_channel(ch.id).unwrap().name, "crm-chan");

    let up = c
        .update_channel(
            ch.id,
            &ChannelUpdate {
                restrict_models: Some(false),
                ..ChannelUpdate::default()
            },
        )
        .unwrap();
    assert!(!up.restrict_models);
    assert_eq!(up.group_ids, vec![g.id], "absent fields stay unchanged");

    c.delete_channel(ch.id).unwrap();
    assert!(state_ids(&host, "channels").is_empty());
    assert!(c.list_channels(None).unwrap().is_empty());
}

#[test]
fn plans_crud() {
    let (host, c) = start();
    let g = c
        .create_group(&new_group("crm-plan-g", subscription_type::SUBSCRIPTION))
        .unwrap();
    let p = c
        .create_plan(&NewPlan {
            group_id: g.id,
            name: "monthly".into(),
            description: Some("relay test".into()),
            price: 29.9,
            original_price: None,
            validity_days: 30,
            validity_unit: "day".into(),
            for_sale: Some(true),
        })
        .unwrap();
    assert_eq!(p.group_id, g.id);
    assert_eq!(p.price, 29.9);
    assert_eq!(c.list_plans().unwrap().len(), 1);
    let up = c
        .update_plan(
            p.id,
            &PlanUpdate {
                price: Some(19.9),
                ..PlanUpdate::default()
            },
        )
        .unwrap();
    assert_eq!(up.price, 19.9);
    assert_eq!(up.name, "monthly");
    c.delete_plan(p.id).unwrap();
    assert!(state_ids(&host, "plans").is_empty());
}

#[test]
fn accounts_lifecycle() {
    let (host, c) = start();
    let g = c
        .create_group(&new_group("crm-acc-g", subscription_type::STANDARD))
        .unwrap();
    let key = "sk-deepseek-valid-000111";
    let a = c
        .create_account(
            &new_account("deepseek-aaaa0001", key, g.id),
            Some("crm-b1-aaaa0001"),
        )
        .unwrap();
    assert_eq!(a.group_ids, vec![g.id]);
    assert!(a.credential_status.has_api_key);
    assert_eq!(a.base_url.as_deref(), Some(VENDOR_BASE));
    assert_eq!(a.model_mapping[MODEL], MODEL);
    assert_eq!(a.extra["openai_responses_mode"], "force_chat_completions");
    assert!(!format!("{a:?}").contains(key));
    let stored = state_list(&host, "accounts");
    assert_eq!(stored.len(), 1);
    assert!(
        !stored[0].to_string().contains(key),
        "mock state redacts keys"
    );

    let batch = c
        .create_accounts_batch(
            &[
                new_account("deepseek-bbbb0002", "sk-deepseek-valid-2", g.id),
                new_account("other-cccc0003", "sk-deepseek-valid-3", g.id),
            ],
            Some("crm-b1-batch"),
        )
        .unwrap();
    assert_eq!((batch.success, batch.failed), (2, 0));
    assert!(batch.results.iter().all(|r| r.id.is_some()));
    assert_eq!(state_ids(&host, "accounts").len(), 3);

    let by_prefix = c
        .list_accounts(&AccountFilter {
            name_prefix: Some("deepseek-".into()),
            group_id: Some(g.id),
            platform: None,
        })
        .unwrap();
    let mut names: Vec<_> = by_prefix.iter().map(|a| a.name.clone()).collect();
    names.sort();
    assert_eq!(names, vec!["deepseek-aaaa0001", "deepseek-bbbb0002"]);
    assert_eq!(c.get_account(a.id).unwrap().name, "deepseek-aaaa0001");

    let mut extra = a.extra.clone();
    extra.insert("base_rpm".into(), json!(30));
    let up = c
        .update_account(
            a.id,
            &AccountUpdate {
                extra: Some(extra),
                ..AccountUpdate::default()
            },
        )
        .unwrap();
    assert_eq!(up.extra["base_rpm"], json!(30));
    assert_eq!(up.extra["openai_responses_mode"], "force_chat_completions");
    assert!(up.credential_status.has_api_key, "key kept on merge");

    // Scheduling is its own route (an update cannot change it).
    let off = c.set_account_schedulable(a.id, false).unwrap();
    assert!(!off.schedulable);
    assert!(c.set_account_schedulable(a.id, true).unwrap().schedulable);

    let cleared = c.clear_account_error(a.id).unwrap();
    assert_eq!(cleared.status, "active");
    assert!(
        cleared.schedulable,
        "clear-error puts the account back into scheduling"
    );
    assert!(c.clear_account_temp_unschedulable(a.id).unwrap());
    let recovered = c.recover_account_state(a.id).unwrap();
    assert_eq!((recovered.id, recovered.status.as_str()), (a.id, "active"));
    let batch = c.clear_account_errors(&[a.id, 999_999]).unwrap();
    assert_eq!((batch.total, batch.cleared), (2, 1));
    assert_eq!(batch.failed.len(), 1);
    assert_eq!(batch.failed[0].0, 999_999);
    assert_eq!(c.account_models(a.id).unwrap(), vec![MODEL]);

    c.delete_account(a.id).unwrap();
    assert!(c.get_account(a.id).unwrap_err().is_not_found());
    // The host answers 200 for an account that is already gone.
    c.delete_account(a.id).unwrap();
    assert_eq!(state_ids(&host, "accounts").len(), 2);
}

#[test]
fn account_test_passes_and_fails_like_the_host() {
    let (host, c) = start();
    let g = c
        .create_group(&new_group("crm-test-g", subscription_type::STANDARD))
        .unwrap();
    let good = c
        .create_account(&new_account("deepseek-good", "sk-good-1", g.id), None)
        .unwrap();
    let bad = c
        .create_account(&new_account("deepseek-bad", "sk-invalid-1", g.id), None)
        .unwrap();

    let r = c.test_account(good.id, Some(MODEL)).unwrap();
    assert_eq!(r.outcome, ProbeOutcome::Passed, "{r:?}");
    assert_eq!(r.model_tested.as_deref(), Some(MODEL));

    let r = c.test_account(bad.id, Some(MODEL)).unwrap();
    assert_eq!(r.outcome, ProbeOutcome::Failed);
    assert_eq!(r.http_status, Some(401), "{r:?}");
    assert!(
        r.message
            .starts_with("Chat Completions API (/v1/chat/completions) returned 401: "),
        "{}",
        r.message
    );
    let errored = c.get_account(bad.id).unwrap();
    assert_eq!(errored.error_kind(), Some(AccountErrorKind::KeyInvalid));
    assert!(!errored.schedulable);
    let cleared = c.clear_account_error(bad.id).unwrap();
    assert!(cleared.status == "active" && cleared.schedulable);

    let r = c.test_account(999_999, Some(MODEL)).unwrap();
    assert_eq!(r.outcome, ProbeOutcome::Failed);
    assert!(!r.message.is_empty());

    host.set_faults(Faults {
        first_test_forbidden: true,
        ..Faults::default()
    });
    let fresh = c
        .create_account(&new_account("deepseek-fresh", "sk-good-2", g.id), None)
        .unwrap();
    let r = c.test_account(fresh.id, Some(MODEL)).unwrap();
    assert_eq!(r.outcome, ProbeOutcome::Failed);
    assert_eq!(
        r.message,
        "Chat Completions API (/v1/chat/completions) returned 403: Forbidden"
    );
    assert_eq!(r.http_status, Some(403));
    assert_eq!(
        c.test_account(fresh.id, Some(MODEL)).unwrap().outcome,
        ProbeOutcome::Passed
    );
}

#[test]
fn users_and_admin_key_listing() {
    let (host, c) = start();
    let g = c
        .create_group(&new_group("crm-user-g", subscription_type::STANDARD))
        .unwrap();
    let u = c
        .create_user(&new_user("probe+a@relay.example", vec![g.id]))
        .unwrap();
    c.create_user(&new_user("xprobe+a@relay.example", vec![]))
        .unwrap();
    assert_eq!(u.role, "user");
    assert_eq!(u.allowed_groups, vec![g.id]);

    let found = c.find_user_by_email("probe+a@relay.example").unwrap();
    assert_eq!(found.map(|f| f.id), Some(u.id));
    assert_eq!(c.find_user_by_email("nobody@relay.example").unwrap(), None);
    assert_eq!(c.get_user(u.id).unwrap().email, "probe+a@relay.example");

    let up = c
        .update_user(
            u.id,
            &UserUpdate {
                allowed_groups: Some(vec![]),
                ..UserUpdate::default()
            },
        )
        .unwrap();
    assert!(up.allowed_groups.is_empty());

    let b = c
        .set_user_balance(
            u.id,
            &BalanceChange {
                amount: 12.5,
                operation: BalanceOperation::Set,
                notes: Some("relay".into()),
            },
            Some("bal-1"),
        )
        .unwrap();
    assert_eq!(b.balance, 12.5);
    let b = c
        .set_user_balance(
            u.id,
            &BalanceChange {
                amount: 2.5,
                operation: BalanceOperation::Add,
                notes: None,
            },
            None,
        )
        .unwrap();
    assert_eq!(b.balance, 15.0);

    let session = logged_in(&c, "probe+a@relay.example");
    let k = c
        .create_user_key(
            &session,
            &NewUserKey {
                name: "relay-probe".into(),
                group_id: g.id,
                custom_key: None,
            },
            None,
        )
        .unwrap();
    let admin_view = c.list_user_keys_admin(u.id).unwrap();
    assert_eq!(admin_view.len(), 1);
    assert_eq!(admin_view[0].id, k.id);
    assert_eq!(admin_view[0].key, k.key);
    let group_view = c.list_group_keys(g.id).unwrap();
    assert_eq!(group_view.len(), 1);
    assert_eq!(group_view[0].id, k.id);
    assert_eq!(group_view[0].user_id, u.id);
    assert_eq!(group_view[0].key, k.key);
    assert!(c.list_group_keys(g.id + 1000).unwrap_err().is_not_found());

    c.delete_user(u.id).unwrap();
    assert!(c.get_user(u.id).unwrap_err().is_not_found());
    assert!(!state_ids(&host, "users").contains(&u.id));
}

#[test]
fn login_outcomes_and_user_keys() {
    let (host, c) = start();
    let g = c
        .create_group(&new_group("crm-key-g", subscription_type::STANDARD))
        .unwrap();
    let u = c
        .create_user(&new_user("probe+k@relay.example", vec![g.id]))
        .unwrap();

    assert_eq!(
        c.login_user("probe+k@relay.example", &Secret::new("wrong-password"))
            .unwrap(),
        LoginOutcome::Blocked(LoginBlocked::InvalidCredentials)
    );
    let session = logged_in(&c, "probe+k@relay.example");
    assert_eq!(session.user_id, u.id);

    let custom = "crm-probe-key-0123456789abcdef";
    let k = c
        .create_user_key(
            &session,
            &NewUserKey {
                name: "relay-probe".into(),
                group_id: g.id,
                custom_key: Some(Secret::new(custom)),
            },
            None,
        )
        .unwrap();
    assert_eq!(k.key.expose(), custom);
    assert_eq!(k.group_id, Some(g.id));
    assert_eq!(k.user_id, u.id);
    let keys = c.list_user_keys(&session).unwrap();
    assert_eq!(keys.iter().map(|k| k.id).collect::<Vec<_>>(), vec![k.id]);
    assert!(!host.state()["api_keys"].to_string().contains(custom));

    c.delete_user_key(&session, k.id).unwrap();
    assert!(c.list_user_keys(&session).unwrap().is_empty());

    host.set_faults(Faults {
        backend_mode: true,
        ..Faults::default()
    });
    match c
        .login_user("probe+k@relay.example", &Secret::new("probe-Pa55word"))
        .unwrap()
    {
        LoginOutcome::Blocked(LoginBlocked::BackendMode { message }) => {
            assert!(message.starts_with("Backend mode is active"), "{message}")
        }
        other => panic!("expected backend mode, got {other:?}"),
    }
}

#[test]
fn subscriptions_assign_idempotently_and_conflict() {
    let (host, c) = start();
    let g = c
        .create_group(&new_group("crm-sub-g", subscription_type::SUBSCRIPTION))
        .unwrap();
    let u = c
        .create_user(&new_user("probe+s@relay.example", vec![]))
        .unwrap();
    let assignment = SubscriptionAssignment {
        user_id: u.id,
        group_id: g.id,
        validity_days: Some(30),
        notes: Some("relay-manager".into()),
    };
    let AssignOutcome::Assigned(s) = c.assign_subscription(&assignment).unwrap() else {
        panic!("expected assigned");
    };
    assert_eq!((s.user_id, s.group_id), (u.id, g.id));
    assert_eq!(s.status, "active");
    let again = c.assign_subscription(&assignment).unwrap();
    assert_eq!(again, AssignOutcome::Assigned(s.clone()), "idempotent");
    assert_eq!(state_ids(&host, "subscriptions").len(), 1);

    let conflict = c
        .assign_subscription(&SubscriptionAssignment {
            validity_days: Some(60),
            ..assignment.clone()
        })
        .unwrap();
    match conflict {
        AssignOutcome::Conflict { reason, .. } => assert_eq!(reason, "validity_days_mismatch"),
        other => panic!("expected a conflict, got {other:?}"),
    }

    let listed = c
        .list_subscriptions(&SubscriptionFilter {
            user_id: Some(u.id),
            group_id: None,
        })
        .unwrap();
    assert_eq!(listed.iter().map(|s| s.id).collect::<Vec<_>>(), vec![s.id]);
    assert!(c
        .list_subscriptions(&SubscriptionFilter {
            user_id: Some(u.id + 1000),
            group_id: None,
        })
        .unwrap()
        .is_empty());

    c.revoke_subscription(s.id).unwrap();
    // A soft delete: the host's admin list keeps it as `revoked`, the adapter leaves
    // it out; revoking again is 404.
    assert_eq!(host.state()["subscriptions"][0]["status"], "revoked");
    let listed = c
        .list_subscriptions(&SubscriptionFilter {
            user_id: Some(u.id),
            group_id: None,
        })
        .unwrap();
    assert!(listed.is_empty(), "{listed:?}");
    assert!(c.revoke_subscription(s.id).unwrap_err().is_not_found());
}

#[test]
fn gateway_closure_through_a_subscription() {
    let (_host, c) = start();
    let g = c
        .create_group(&new_group("crm-gw-g", subscription_type::SUBSCRIPTION))
        .unwrap();
    c.create_account(&new_account("deepseek-gw01", "sk-good-gw", g.id), None)
        .unwrap();
    let u = c
        .create_user(&new_user("probe+gw@relay.example", vec![]))
        .unwrap();
    let assigned = c
        .assign_subscription(&SubscriptionAssignment {
            user_id: u.id,
            group_id: g.id,
            validity_days: Some(30),
            notes: None,
        })
        .unwrap();
    assert!(matches!(assigned, AssignOutcome::Assigned(_)));
    let session = logged_in(&c, "probe+gw@relay.example");
    let key = c
        .create_user_key(
            &session,
            &NewUserKey {
                name: "relay-probe".into(),
                group_id: g.id,
                custom_key: Some(Secret::new("crm-probe-gw-0123456789abcdef")),
            },
            None,
        )
        .unwrap()
        .key;

    let models = c.gateway_models(&key).unwrap();
    assert_eq!(models.http_status, 200);
    assert!(models.lists(MODEL), "{models:?}");

    let done = c.gateway_chat(&key, &chat(false)).unwrap();
    assert!(done.ok, "{done:?}");
    assert_eq!(done.http_status, 200);
    assert!(!done.preview.is_empty());

    let streamed = c.gateway_chat(&key, &chat(true)).unwrap();
    assert!(streamed.ok, "{streamed:?}");
    assert!(!streamed.preview.is_empty());

    let probe = c.probe_gateway(&key, &chat(false)).unwrap();
    assert!(probe.is_ready(MODEL));

    let unknown = Secret::new("sk-not-a-key-000000000000");
    let m = c.gateway_models(&unknown).unwrap();
    assert_eq!(m.http_status, 401);
    assert_eq!(
        m.error.and_then(|e| e.code).as_deref(),
        Some("INVALID_API_KEY")
    );
    let chat_err = c.gateway_chat(&unknown, &chat(false)).unwrap();
    assert!(!chat_err.ok);
    assert_eq!(chat_err.http_status, 401);
}

#[test]
fn gateway_without_accounts_is_503_data() {
    let (_host, c) = start();
    let g = c
        .create_group(&new_group("crm-empty-g", subscription_type::STANDARD))
        .unwrap();
    let u = c
        .create_user(&new_user("probe+e@relay.example", vec![g.id]))
        .unwrap();
    c.set_user_balance(
        u.id,
        &BalanceChange {
            amount: 10.0,
            operation: BalanceOperation::Set,
            notes: None,
        },
        None,
    )
    .unwrap();
    let session = logged_in(&c, "probe+e@relay.example");
    let key = c
        .create_user_key(
            &session,
            &NewUserKey {
                name: "relay-probe".into(),
                group_id: g.id,
                custom_key: None,
            },
            None,
        )
        .unwrap()
        .key;
    let p = c.gateway_chat(&key, &chat(false)).unwrap();
    assert_eq!(p.http_status, 503, "{p:?}");
    assert!(!p.ok);
    assert_eq!(
        p.error.and_then(|e| e.error_type).as_deref(),
        Some("api_error")
    );
}

#[test]
fn faults_rate_limit_and_internal_error() {
    let (host, c) = start();
    host.set_faults(Faults {
        rate_limit_next_admin_calls: 1,
        ..Faults::default()
    });
    let started = Instant::now();
    assert_eq!(c.version().unwrap(), sub2api_mock::DEFAULT_HOST_VERSION);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "Retry-After waited"
    );

    host.set_faults(Faults {
        rate_limit_next_admin_calls: 1,
        ..Faults::default()
    });
    let err = c
        .create_group(&new_group("crm-rl", subscription_type::STANDARD))
        .unwrap_err();
    assert!(
        matches!(err, HostError::RateLimited { .. }),
        "writes are not retried: {err:?}"
    );
    assert!(state_ids(&host, "groups").is_empty());

    host.set_faults(Faults {
        fail_nth_admin_call: Some(1),
        ..Faults::default()
    });
    let err = c
        .create_group(&new_group("crm-500", subscription_type::STANDARD))
        .unwrap_err();
    assert!(
        matches!(err, HostError::Host { status: 500, .. }),
        "{err:?}"
    );
    c.create_group(&new_group("crm-500", subscription_type::STANDARD))
        .unwrap();
}

#[test]
fn admin_login_auth_works_against_the_host() {
    let host = MockHost::start(MockConfig::default()).unwrap();
    let c = Sub2ApiClient::new(HostConfig::new(
        host.base_url(),
        AdminAuth::Login {
            email: sub2api_mock::DEFAULT_ADMIN_EMAIL.into(),
            password: Secret::new(sub2api_mock::DEFAULT_ADMIN_PASSWORD),
        },
    ))
    .unwrap();
    assert_eq!(c.version().unwrap(), sub2api_mock::DEFAULT_HOST_VERSION);
    let g = c
        .create_group(&new_group("crm-jwt", subscription_type::STANDARD))
        .unwrap();
    assert!(state_ids(&host, "groups").contains(&g.id));

    let wrong = Sub2ApiClient::new(HostConfig::new(
        host.base_url(),
        AdminAuth::ApiKey(Secret::new("admin-wrong")),
    ))
    .unwrap();
    let err = wrong.version().unwrap_err();
    assert!(
        matches!(&err, HostError::Unauthorized(d) if d.has_code("INVALID_ADMIN_KEY")),
        "{err:?}"
    );
}

#[test]
fn a_500_inside_the_create_is_retried_with_the_same_key_after_the_hosts_backoff() {
    let (host, c) = start();
    let g = c
        .create_group(&new_group("crm-retry-g", subscription_type::STANDARD))
        .unwrap();
    host.set_policy(sub2api_mock::HostPolicy {
        idempotency_enforced: true,
        ..sub2api_mock::HostPolicy::default()
    });
    host.set_faults(Faults {
        fail_nth_admin_call: Some(1),
        ..Faults::default()
    });
    let account = new_account("deepseek-retry001", "sk-deepseek-valid-r", g.id);
    let started = Instant::now();
    let mut calls = 0;
    let a = retry_write(&WriteRetry::default(), || {
        calls += 1;
        c.create_account(&account, Some("crm-b9-retry001"))
    })
    .unwrap();
    assert_eq!(calls, 2, "one 500, then one run after the backoff");
    assert!(started.elapsed() >= Duration::from_secs(5));
    assert_eq!(state_ids(&host, "accounts"), vec![a.id]);
    // The same key again replays: still one account, read as it is now.
    let again = c.create_account(&account, Some("crm-b9-retry001")).unwrap();
    assert_eq!(again.id, a.id);
    assert_eq!(state_ids(&host, "accounts").len(), 1);
    // Without a key the enforcing host refuses.
    let err = c.create_account(&account, None).unwrap_err();
    assert_eq!(err.code().as_deref(), Some(IDEMPOTENCY_KEY_REQUIRED));
}

#[test]
fn key_names_survive_the_hosts_html_escaping_and_keys_can_be_rebound() {
    let (host, c) = start();
    let g = c
        .create_group(&new_group("crm-esc-g", subscription_type::STANDARD))
        .unwrap();
    let g2 = c
        .create_group(&new_group("crm-esc-g2", subscription_type::STANDARD))
        .unwrap();
    let u = c
        .create_user(&new_user("probe+esc@relay.example", vec![g.id, g2.id]))
        .unwrap();
    let session = logged_in(&c, "probe+esc@relay.example");
    let name = "crm-a&b <probe> \"x\" 'y'";
    let k = c
        .create_user_key(
            &session,
            &NewUserKey {
                name: name.into(),
                group_id: g.id,
                custom_key: None,
            },
            Some("crm-esc-key-1"),
        )
        .unwrap();
    // Stored escaped on the host, read back as given.
    let stored = &host.state()["api_keys"][0]["name"];
    assert_eq!(stored, "crm-a&amp;b &lt;probe&gt; &#34;x&#34; &#39;y&#39;");
    assert_eq!(k.name, name);
    assert_eq!(c.list_user_keys_admin(u.id).unwrap()[0].name, name);
    assert_eq!(c.list_group_keys(g.id).unwrap()[0].name, name);

    let moved = c.rebind_user_key(k.id, g2.id).unwrap();
    assert_eq!((moved.id, moved.group_id), (k.id, Some(g2.id)));
    assert_eq!(moved.key, k.key);
    assert_eq!(moved.name, name);
    assert!(c.list_group_keys(g.id).unwrap().is_empty());
    assert!(c
        .rebind_user_key(k.id + 100, g.id)
        .unwrap_err()
        .is_not_found());
}
