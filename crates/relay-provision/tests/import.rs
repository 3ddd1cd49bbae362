//! Import, rollback and re-import against the in-process sub2api mock, asserting
//! on the host's objects.

use std::sync::atomic::Ordering;
use std::time::Duration;

use relay_access::AccessClosure;
use relay_core::DEFAULT_PROBE_EMAIL;
use relay_core::*;
use relay_domain::{
    AccessMode, AccessStatus, BatchStatus, Fingerprint, ImportMode, ItemStatus, KeyPlan,
    ProviderEvent, ResourceState, ResourceType, Secret, Verdict,
};
use relay_provision::*;
use relay_sub2api::{HostAdapter, LoginOutcome, NewUser, NewUserKey};
use relay_testkit::provision::*;
use relay_testkit::*;
use serde_json::{json, Value};
use sub2api_mock::Faults;

const GOOD_1: &str = "sk-good-0001aaaaaaaaaaaaaaaaaaaaaaaa";
const GOOD_2: &str = "sk-good-0002bbbbbbbbbbbbbbbbbbbbbbbb";
const GOOD_3: &str = "sk-good-0003cccccccccccccccccccccccc";
const BAD: &str = "sk-invalid-0004dddddddddddddddddddddd";

fn find<'a>(list: &'a [Value], key: &str, value: &Value) -> Option<&'a Value> {
    list.iter().find(|v| &v[key] == value)
}

fn key_result<'a>(report: &'a ImportReport, key: &str) -> &'a KeyResult {
    let fp = Fingerprint::of(key);
    report
        .keys
        .iter()
        .find(|k| k.fingerprint == fp && k.plan != KeyPlan::DuplicateInRequest)
        .expect("key in report")
}

#[test]
fn strict_success_creates_every_resource_and_proves_subscription_access() {
    let env = Env::start();
    let req = request(
        &[GOOD_1, GOOD_2],
        ImportMode::Strict,
        AccessMode::Subscription,
    );
    let report = env.import(&env.journal, &req);

    assert_eq!(report.outcome, BatchStatus::Succeeded, "{report:#?}");
    assert_eq!(report.provider_event, ProviderEvent::Healthy);
    assert_eq!(report.access.status, AccessStatus::SubscriptionReady);
    assert!(report.error.is_none() && report.rollback.is_none());
    assert_eq!(report.counts.passed, 2);
    for k in &report.keys {
        assert_eq!(k.status, ItemStatus::Passed);
        assert_eq!(k.verdict, Some(Verdict::Passed));
        assert!(k.account_id.is_some());
    }

    // Group: subscription type, platform and multiplier from the manifest.
    let target = env.target();
    let name = target.resource_name(AccessMode::Subscription);
    let groups = env.list("groups");
    let group = find(&groups, "name", &json!(name)).expect("group");
    assert_eq!(group["subscription_type"], "subscription");
    assert_eq!(group["platform"], "openai");
    assert_eq!(group["rate_multiplier"], 1.0);
    let gid = group["id"].as_i64().unwrap();

    // Channel: bound to the group, mapping per platform, pricing for openai.
    let channels = env.list("channels");
    let channel = find(&channels, "name", &json!(name)).expect("channel");
    assert_eq!(channel["group_ids"], json!([gid]));
    assert_eq!(channel["model_mapping"]["openai"][SMOKE], SMOKE);
    assert_eq!(channel["model_pricing"][0]["platform"], "openai");
    assert_eq!(channel["billing_model_source"], "channel_mapped");

    // Plan for the group.
    let plans = env.list("plans");
    let plan = find(&plans, "name", &json!(name)).expect("plan");
    assert_eq!(plan["group_id"], gid);

    // Accounts: model mapping, chat-only extra, group binding, the right key.
    let accounts = env.list("accounts");
    assert_eq!(accounts.len(), 2);
    for key in [GOOD_1, GOOD_2] {
        let fp = Fingerprint::of(key);
        let a = find(&accounts, "api_key_sha256", &json!(fp.as_str())).expect("account");
        assert_eq!(a["name"], format!("{PROVIDER}-{}", fp.short()));
        assert_eq!(a["credentials"]["base_url"], "https://api.deepseek.com");
        assert_eq!(a["credentials"]["model_mapping"][SMOKE], SMOKE);
        assert_eq!(
            a["credentials"]["model_mapping"]["deepseek-v4-pro"],
            "deepseek-v4-pro"
        );
        assert_eq!(
            a["extra"]["openai_responses_mode"],
            "force_chat_completions"
        );
        assert_eq!(a["extra"]["openai_responses_supported"], false);
        assert_eq!(a["group_ids"], json!([gid]));
    }

    // Subscription and user key of the probe subscriber.
    let users = env.list("users");
    let probe = find(&users, "email", &json!(DEFAULT_PROBE_EMAIL)).expect("probe user");
    let uid = probe["id"].as_i64().unwrap();
    let subs = env.list("subscriptions");
    let sub = find(&subs, "user_id", &json!(uid)).expect("subscription");
    assert_eq!(sub["group_id"], gid);
    assert_eq!(sub["status"], "active");
    assert_eq!(sub["notes"], "managed by relay-manager: test-pack/deepseek");
    let keys = env.list("api_keys");
    let key = find(&keys, "user_id", &json!(uid)).expect("user key");
    assert_eq!(key["group_id"], gid);
    assert_eq!(key["name"], target.key_name(AccessMode::Subscription));

    // The report lists every host object, all created.
    let kinds: Vec<ResourceType> = report.resources.iter().map(|r| r.resource_type).collect();
    for t in [
        ResourceType::Group,
        ResourceType::Channel,
        ResourceType::Plan,
        ResourceType::Account,
        ResourceType::User,
        ResourceType::Subscription,
        ResourceType::UserKey,
    ] {
        assert!(kinds.contains(&t), "{t} missing from {kinds:?}");
    }
    assert!(report
        .resources
        .iter()
        .all(|r| r.change == ResourceChange::Created && r.state == Some(ResourceState::Created)));

    // Journal: everything created, nothing left as an intent.
    let entries = env.journal.entries();
    assert_eq!(entries.len(), 8);
    assert!(entries.iter().all(|e| e.state == ResourceState::Created));

    // Observer: each key went created → passed; probes were recorded.
    let items = env.observer.items();
    for key in [GOOD_1, GOOD_2] {
        let fp = Fingerprint::of(key);
        let statuses: Vec<ItemStatus> = items
            .iter()
            .filter(|(f, _)| *f == fp)
            .map(|(_, p)| p.status)
            .collect();
        assert_eq!(statuses, vec![ItemStatus::Created, ItemStatus::Passed]);
    }
    let probes = env.observer.probes();
    let count = |k: ProbeKind| probes.iter().filter(|p| p.kind == k).count();
    assert_eq!(count(ProbeKind::AccountTest), 2);
    // One model check for the batch: its accounts share one model mapping.
    assert_eq!(count(ProbeKind::AccountModels), 1);
    assert!(report
        .keys
        .iter()
        .all(|k| k.models_include_smoke == Some(true)));
    assert!(count(ProbeKind::GatewayModels) >= 1);
    assert!(count(ProbeKind::GatewayChat) >= 1);

    // No secret in the report, the probe records or the item messages.
    let user_key = env.vault_key(gid);
    let text = serde_json::to_string(&report).unwrap()
        + &serde_json::to_string(&probes).unwrap()
        + &serde_json::to_string(&items).unwrap();
    assert_no_secrets(&text, &[GOOD_1, GOOD_2, user_key.expose()]);
}

trait VaultKey {
    fn vault_key(&self, group: i64) -> Secret;
}
impl VaultKey for Env {
    fn vault_key(&self, group: i64) -> Secret {
        use relay_core::SubscriberVault;
        self.vault
            .user_key(DEFAULT_PROBE_EMAIL, group)
            .unwrap()
            .expect("vault key")
    }
}

#[test]
fn strict_failure_rolls_back_to_the_exact_prior_state() {
    let env = Env::start();
    let before = env.objects();
    let req = request(&[GOOD_1, BAD], ImportMode::Strict, AccessMode::Subscription);
    let report = env.import(&env.journal, &req);

    assert_eq!(report.outcome, BatchStatus::Failed);
    assert_eq!(report.provider_event, ProviderEvent::Fail);
    let bad = key_result(&report, BAD);
    assert_eq!(bad.status, ItemStatus::Failed);
    assert_eq!(bad.reason, Some(TestReason::UpstreamKeyInvalid));
    // Pack accounts are forced to Chat Completions: the host (0.1.179) words it so.
    assert!(bad
        .host_message
        .as_deref()
        .unwrap()
        .starts_with("Chat Completions API (/v1/chat/completions) returned 401: "));
    assert_eq!(key_result(&report, GOOD_1).status, ItemStatus::RolledBack);
    let rollback = report.rollback.as_ref().expect("rollback");
    assert!(rollback.complete, "{rollback:#?}");
    assert!(rollback.remaining.is_empty());
    // Reverse dependency order: accounts, channel, plan, group.
    let order: Vec<ResourceType> = rollback.deleted.iter().map(|d| d.resource_type).collect();
    assert_eq!(
        order,
        vec![
            ResourceType::Account,
            ResourceType::Account,
            ResourceType::Channel,
            ResourceType::Plan,
            ResourceType::Group
        ]
    );
    assert_eq!(env.objects(), before, "the host must be exactly as before");
    assert!(env
        .journal
        .entries()
        .iter()
        .all(|e| e.state == ResourceState::Deleted));
    let text = serde_json::to_string(&report).unwrap();
    assert_no_secrets(&text, &[GOOD_1, BAD]);
}

#[test]
fn partial_keeps_the_good_accounts_and_deletes_the_failed_one() {
    let env = Env::start();
    let req = request(
        &[GOOD_1, BAD, GOOD_2],
        ImportMode::Partial,
        AccessMode::Subscription,
    );
    let report = env.import(&env.journal, &req);
    assert_eq!(
        report.outcome,
        BatchStatus::PartiallySucceeded,
        "{report:#?}"
    );
    assert_eq!(report.provider_event, ProviderEvent::Degrade);
    assert_eq!(report.access.status, AccessStatus::SubscriptionReady);
    assert_eq!(report.counts.passed, 2);
    assert_eq!(report.counts.failed, 1);
    let accounts = env.list("accounts");
    assert_eq!(accounts.len(), 2);
    for key in [GOOD_1, GOOD_2] {
        let fp = Fingerprint::of(key);
        assert!(find(&accounts, "api_key_sha256", &json!(fp.as_str())).is_some());
    }
    let bad = key_result(&report, BAD);
    let bad_id = bad.account_id.expect("the failed account was created");
    assert!(env.client().get_account(bad_id).unwrap_err().is_not_found());
    let entry = env
        .journal
        .entries()
        .into_iter()
        .find(|e| e.host_resource_id == Some(bad_id) && e.resource_type == ResourceType::Account)
        .unwrap();
    assert_eq!(entry.state, ResourceState::Deleted);
}

#[test]
fn partial_with_every_key_failing_rolls_back() {
    let env = Env::start();
    let before = env.objects();
    let req = request(
        &[BAD, "sk-quota-0005eeeeeeeeeeeeeeeeeeee"],
        ImportMode::Partial,
        AccessMode::SelfService,
    );
    let report = env.import(&env.journal, &req);
    assert_eq!(report.outcome, BatchStatus::Failed);
    assert!(report
        .error
        .as_deref()
        .unwrap()
        .contains("every key failed"));
    let quota = key_result(&report, "sk-quota-0005eeeeeeeeeeeeeeeeeeee");
    assert_eq!(quota.reason, Some(TestReason::UpstreamQuotaExhausted));
    assert_eq!(env.objects(), before);
}

#[test]
fn first_test_forbidden_race_is_a_warning_and_the_import_succeeds() {
    let env = Env::with_faults(Faults {
        first_test_forbidden: true,
        ..Faults::default()
    });
    let req = request(&[GOOD_1], ImportMode::Strict, AccessMode::Subscription);
    let report = env.import(&env.journal, &req);
    assert_eq!(report.outcome, BatchStatus::Succeeded, "{report:#?}");
    let k = key_result(&report, GOOD_1);
    assert_eq!(k.status, ItemStatus::Warning);
    assert_eq!(k.reason, Some(TestReason::FirstTestForbiddenRace));
    assert_eq!(
        k.host_message.as_deref(),
        Some("Chat Completions API (/v1/chat/completions) returned 403: Forbidden")
    );
    assert_eq!(k.models_include_smoke, Some(true));
    assert_eq!(report.access.status, AccessStatus::SubscriptionReady);
    assert_eq!(report.provider_event, ProviderEvent::Healthy);
    // The account test ran once: never in a loop.
    assert_eq!(env.adapter.i.tests.load(Ordering::SeqCst), 1);
}

#[test]
fn warmup_503_is_retried_until_access_is_ready() {
    let env = Env::with_faults(Faults {
        warmup_ms: 1_500,
        ..Faults::default()
    });
    let mut req = request(&[GOOD_1], ImportMode::Strict, AccessMode::Subscription);
    req.probe.warmup_window = Duration::from_secs(15);
    let report = env.import(&env.journal, &req);
    assert_eq!(report.outcome, BatchStatus::Succeeded);
    assert_eq!(
        report.access.status,
        AccessStatus::SubscriptionReady,
        "{report:#?}"
    );
    let proof = report.access.proofs()[0];
    assert!(proof.attempts >= 2, "{proof:#?}");
    assert!(env
        .observer
        .probes()
        .iter()
        .any(|p| p.kind == ProbeKind::GatewayChat && p.http_status == Some(503)));
}

#[test]
fn a_strict_batch_whose_accounts_pass_but_whose_access_ends_broken_is_partial() {
    // The gateway stays in its warm-up longer than the probe's window.
    let env = Env::with_faults(Faults {
        warmup_ms: 60_000,
        ..Faults::default()
    });
    let mut req = request(&[GOOD_1], ImportMode::Strict, AccessMode::Subscription);
    req.probe.warmup_window = Duration::from_millis(600);
    let report = env.import(&env.journal, &req);
    assert_eq!(
        key_result(&report, GOOD_1).status,
        ItemStatus::Passed,
        "{report:#?}"
    );
    assert_eq!(report.access.status, AccessStatus::Broken);
    assert_eq!(report.outcome, BatchStatus::PartiallySucceeded);
    assert_eq!(report.provider_event, ProviderEvent::Degrade);
    // Nothing is rolled back: the accounts are good, only the proof is not.
    assert!(report.rollback.is_none());
    assert_eq!(env.objects()["accounts"].as_array().unwrap().len(), 1);
}

#[test]
fn responses_misdetection_is_repaired_and_access_becomes_ready() {
    let env = Env::with_faults(Faults {
        responses_misdetection: true,
        responses_probe_delay_ms: 50,
        ..Faults::default()
    });
    // Make the misdetection deterministic: before the first gateway chat, wait
    // until the host's asynchronous probe has marked every account.
    *env.adapter.i.before_chat.lock().unwrap() = Some(Box::new(|c| {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let accounts = c.list_accounts(&Default::default()).unwrap();
            if accounts
                .iter()
                .all(|a| a.extra.contains_key("openai_responses_supported"))
                || std::time::Instant::now() > deadline
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }));
    let target = env.target_with(responses_manifest());
    let req = request(&[GOOD_1], ImportMode::Strict, AccessMode::Subscription);
    let report = import(&env.ports(&env.journal), &AccessClosure, &target, &req).unwrap();
    assert_eq!(report.outcome, BatchStatus::Succeeded, "{report:#?}");
    assert_eq!(report.access.status, AccessStatus::SubscriptionReady);
    let repairs = report.access.repairs();
    assert_eq!(repairs.len(), 1, "{report:#?}");
    assert_eq!(repairs[0].previous_supported, Some(true));
    let account_id = key_result(&report, GOOD_1).account_id.unwrap();
    assert_eq!(repairs[0].account_id, account_id);
    // Created without the chat-only extra; repaired afterwards.
    let a = env.client().get_account(account_id).unwrap();
    assert_eq!(a.extra["openai_responses_mode"], "force_chat_completions");
    assert_eq!(a.extra["openai_responses_supported"], false);
    let entry = env
        .journal
        .entries()
        .into_iter()
        .find(|e| {
            e.host_resource_id == Some(account_id) && e.resource_type == ResourceType::Account
        })
        .unwrap();
    assert_eq!(
        entry.details["capability_repairs"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn a_create_that_fails_after_the_insert_adopts_the_account_and_binds_it() {
    let env = Env::start();
    // The host inserts the account, fails to bind its group and answers 500; its
    // retry would insert a second one.
    env.adapter
        .i
        .orphaning_creates
        .store(true, Ordering::SeqCst);
    let report = env.import(
        &env.journal,
        &request(&[GOOD_1], ImportMode::Strict, AccessMode::Subscription),
    );
    assert_eq!(report.outcome, BatchStatus::Succeeded, "{report:#?}");
    let accounts = env.list("accounts");
    assert_eq!(accounts.len(), 1, "no second account: {accounts:#?}");
    let group = env.list("groups")[0]["id"].clone();
    assert_eq!(
        accounts[0]["group_ids"],
        json!([group]),
        "bound to the group"
    );
    assert_eq!(report.keys[0].account_id, accounts[0]["id"].as_i64());
    assert_eq!(report.access.status, AccessStatus::SubscriptionReady);
    // One failed create; the second attempt found the account instead of creating.
    assert_eq!(env.adapter.i.creates.load(Ordering::SeqCst), 1);
}

#[test]
fn importing_the_same_keys_again_creates_no_second_account() {
    let env = Env::start();
    let req = request(
        &[GOOD_1, GOOD_2],
        ImportMode::Strict,
        AccessMode::Subscription,
    );
    let first = env.import(&env.journal, &req);
    assert_eq!(first.outcome, BatchStatus::Succeeded);
    let snapshot = |env: &Env| -> Vec<Value> {
        env.list("accounts")
            .into_iter()
            .map(|mut a| {
                a.as_object_mut().unwrap().remove("last_used_at");
                a
            })
            .collect()
    };
    let accounts_before = snapshot(&env);
    let creates = env.adapter.i.creates.load(Ordering::SeqCst);

    let second_batch = env.batch("batch_2");
    let mut again = request(
        &[GOOD_2, GOOD_1, GOOD_1],
        ImportMode::Strict,
        AccessMode::Subscription,
    );
    again.concurrency = 2;
    let second = env.import(&second_batch, &again);
    assert_eq!(second.outcome, BatchStatus::Succeeded, "{second:#?}");
    assert_eq!(
        snapshot(&env),
        accounts_before,
        "no account created or changed"
    );
    assert_eq!(env.adapter.i.creates.load(Ordering::SeqCst), creates);
    let plans: Vec<KeyPlan> = second.keys.iter().map(|k| k.plan).collect();
    assert_eq!(
        plans,
        vec![
            KeyPlan::AlreadyImported,
            KeyPlan::AlreadyImported,
            KeyPlan::DuplicateInRequest
        ]
    );
    for k in &second.keys[..2] {
        assert_eq!(k.status, ItemStatus::AlreadyImported);
        assert!(k.account_id.is_some());
    }
    // Group, channel and plan are recognised as the manager's own.
    assert!(second
        .resources
        .iter()
        .filter(|r| matches!(
            r.resource_type,
            ResourceType::Group | ResourceType::Channel | ResourceType::Plan
        ))
        .all(|r| r.change == ResourceChange::Reused && r.state == Some(ResourceState::Created)));
    // The second batch recorded nothing new on the host side.
    assert!(second_batch
        .entries()
        .iter()
        .all(|e| e.batch_id.as_ref().map(|b| b.as_str()) == Some("batch_1")));
    assert_eq!(second.access.status, AccessStatus::SubscriptionReady);
}

#[test]
fn batch_rollback_leaves_nothing_behind() {
    let env = Env::start();
    let before = env.objects();
    let req = request(
        &[GOOD_1, GOOD_2],
        ImportMode::Strict,
        AccessMode::Subscription,
    );
    let report = env.import(&env.journal, &req);
    assert_eq!(report.outcome, BatchStatus::Succeeded);
    assert_ne!(env.objects(), before);

    let batch = report.batch_id.clone();
    let rb = rollback_batch(&env.adapter, &env.journal, &env.vault, &batch).unwrap();
    assert!(rb.complete, "{rb:#?}");
    assert!(rb.kept.is_empty());
    let order: Vec<ResourceType> = rb.deleted.iter().map(|d| d.resource_type).collect();
    assert_eq!(
        order,
        vec![
            ResourceType::Subscription,
            ResourceType::UserKey,
            ResourceType::Account,
            ResourceType::Account,
            ResourceType::Channel,
            ResourceType::Plan,
            ResourceType::Group,
            ResourceType::User,
        ]
    );
    assert_eq!(env.objects(), before);
    assert!(env
        .journal
        .entries()
        .iter()
        .all(|e| e.state == ResourceState::Deleted));

    // Rolling back again deletes nothing and succeeds; the provider has nothing left.
    let again = rollback_batch(&env.adapter, &env.journal, &env.vault, &batch).unwrap();
    assert!(again.deleted.is_empty() && again.complete);
    let err = rollback_provider(&env.adapter, &env.journal, &env.vault).unwrap_err();
    assert!(matches!(err, ProvisionError::NothingRecorded { .. }));
}

#[test]
fn already_gone_objects_count_as_deleted() {
    let env = Env::start();
    let before = env.objects();
    let req = request(&[GOOD_1], ImportMode::Strict, AccessMode::SelfService);
    let report = env.import(&env.journal, &req);
    assert_eq!(report.outcome, BatchStatus::Succeeded);
    // Someone deletes the account by hand.
    let account_id = key_result(&report, GOOD_1).account_id.unwrap();
    env.client().delete_account(account_id).unwrap();
    let rb = rollback_provider(&env.adapter, &env.journal, &env.vault).unwrap();
    assert!(rb.complete);
    let acc = rb
        .deleted
        .iter()
        .find(|d| d.resource_type == ResourceType::Account)
        .unwrap();
    assert!(acc.already_gone);
    assert_eq!(env.objects(), before);
}

#[test]
fn provider_rollback_refuses_when_nothing_is_recorded() {
    let env = Env::start();
    let err = rollback_provider(&env.adapter, &env.journal, &env.vault).unwrap_err();
    assert!(
        matches!(err, ProvisionError::NothingRecorded { .. }),
        "{err:?}"
    );
    assert_eq!(err.code(), "nothing_recorded");
    assert!(err.to_string().contains(PROVIDER));
}

#[test]
fn rollback_of_an_earlier_batch_keeps_what_a_later_batch_still_uses() {
    let env = Env::start();
    let first = env.import(
        &env.journal,
        &request(&[GOOD_1], ImportMode::Strict, AccessMode::SelfService),
    );
    assert_eq!(first.outcome, BatchStatus::Succeeded);
    let b2 = env.batch("batch_2");
    let second = env.import(
        &b2,
        &request(&[GOOD_2], ImportMode::Strict, AccessMode::SelfService),
    );
    assert_eq!(second.outcome, BatchStatus::Succeeded);
    let rb = rollback_batch(&env.adapter, &env.journal, &env.vault, &first.batch_id).unwrap();
    // Batch 1's account is gone, its group and channel stay for batch 2's account.
    assert!(rb
        .deleted
        .iter()
        .any(|d| d.resource_type == ResourceType::Account));
    let kept: Vec<ResourceType> = rb.kept.iter().map(|k| k.resource_type).collect();
    assert_eq!(
        kept,
        vec![ResourceType::Channel, ResourceType::Group],
        "{rb:#?}"
    );
    assert!(rb.kept[0].reason.contains("batch_2"));
    assert_eq!(env.list("accounts").len(), 1);
    assert_eq!(env.list("groups").len(), 1);
}

#[test]
fn self_service_import_then_a_supplied_key_proves_self_service_access() {
    let env = Env::start();
    let req = request(&[GOOD_1], ImportMode::Strict, AccessMode::SelfService);
    let first = env.import(&env.journal, &req);
    assert_eq!(first.outcome, BatchStatus::Succeeded);
    assert_eq!(first.access.status, AccessStatus::NotConfigured);
    assert_eq!(first.provider_event, ProviderEvent::Degrade);
    assert!(first.warnings.iter().any(|w| w.contains("not_configured")));
    let group = first
        .resources
        .iter()
        .find(|r| r.resource_type == ResourceType::Group)
        .unwrap();
    let g = env.client().get_group(group.host_id).unwrap();
    assert_eq!(g.subscription_type, "standard");
    assert!(g.name.ends_with("-self"));
    // No plan, no subscriber in self-service mode.
    assert!(env.list("plans").is_empty());
    assert_eq!(env.list("users").len(), 1, "only the seeded admin");

    // An end user (with a balance) creates a key in the group; the operator supplies it.
    let key = user_key(&env, "enduser@example.com", group.host_id, 5.0);
    let mut again = req.clone();
    again.supplied_key = Some(key.clone());
    let second = env.import(&env.batch("batch_2"), &again);
    assert_eq!(
        second.access.status,
        AccessStatus::SelfServiceReady,
        "{second:#?}"
    );
    assert_eq!(second.provider_event, ProviderEvent::Healthy);
    assert_eq!(env.list("accounts").len(), 1);
    let proof = second.access.proofs()[0];
    assert_eq!(proof.key_fingerprint, Fingerprint::of(key.expose()));
    assert_no_secrets(
        &serde_json::to_string(&second).unwrap(),
        &[key.expose(), GOOD_1],
    );
}

fn user_key(env: &Env, email: &str, group: i64, balance: f64) -> Secret {
    let c = env.client();
    c.create_user(&NewUser {
        email: email.into(),
        password: Secret::new("enduser-Pa55"),
        username: None,
        notes: None,
        balance: Some(balance),
        concurrency: None,
        allowed_groups: vec![],
    })
    .unwrap();
    let LoginOutcome::LoggedIn(s) = c.login_user(email, &Secret::new("enduser-Pa55")).unwrap()
    else {
        panic!("login")
    };
    c.create_user_key(
        &s,
        &NewUserKey {
            name: "mine".into(),
            group_id: group,
            custom_key: None,
        },
        None,
    )
    .unwrap()
    .key
}

#[test]
fn both_modes_prove_fully_ready() {
    let env = Env::start();
    let c = env.client();
    let op = c
        .create_user(&NewUser {
            email: "operator@example.com".into(),
            password: Secret::new("enduser-Pa55"),
            username: None,
            notes: None,
            balance: None,
            concurrency: None,
            allowed_groups: vec![],
        })
        .unwrap();
    let mut req = request(&[GOOD_1], ImportMode::Strict, AccessMode::Subscription);
    req.subscribers = vec![SubscriberSelector::UserId(op.id)];
    let first = env.import(&env.journal, &req);
    assert_eq!(first.access.status, AccessStatus::SubscriptionReady);
    let group = first
        .resources
        .iter()
        .find(|r| r.resource_type == ResourceType::Group)
        .unwrap()
        .host_id;
    // The operator's user has the subscription now and binds a key.
    let LoginOutcome::LoggedIn(s) = c
        .login_user("operator@example.com", &Secret::new("enduser-Pa55"))
        .unwrap()
    else {
        panic!("login")
    };
    let key = c
        .create_user_key(
            &s,
            &NewUserKey {
                name: "op".into(),
                group_id: group,
                custom_key: None,
            },
            None,
        )
        .unwrap()
        .key;
    req.supplied_key = Some(key);
    let second = env.import(&env.batch("batch_2"), &req);
    assert_eq!(
        second.access.status,
        AccessStatus::FullyReady,
        "{second:#?}"
    );
    assert_eq!(second.outcome, BatchStatus::Succeeded);
    assert_eq!(second.provider_event, ProviderEvent::Healthy);
}

#[test]
fn bounded_parallelism_is_respected() {
    let env = Env::with_faults(Faults {
        account_test_latency_ms: 400,
        ..Faults::default()
    });
    let keys: Vec<String> = (0..6)
        .map(|i| format!("sk-good-par{i}xxxxxxxxxxxxxxxxxxxx"))
        .collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let mut req = request(&refs, ImportMode::Strict, AccessMode::SelfService);
    req.concurrency = 3;
    let report = env.import(&env.journal, &req);
    assert_eq!(report.outcome, BatchStatus::Succeeded);
    assert_eq!(env.adapter.i.tests.load(Ordering::SeqCst), 6);
    let max = env.adapter.i.max_tests_in_flight.load(Ordering::SeqCst);
    assert!(
        (2..=3).contains(&max),
        "max concurrent account tests: {max}"
    );

    let env = Env::with_faults(Faults {
        account_test_latency_ms: 100,
        ..Faults::default()
    });
    let mut req = request(&refs[..3], ImportMode::Strict, AccessMode::SelfService);
    req.concurrency = 1;
    env.import(&env.journal, &req);
    assert_eq!(env.adapter.i.max_tests_in_flight.load(Ordering::SeqCst), 1);
}

#[test]
fn a_host_that_refuses_calls_above_six_at_once_slows_the_import_down_and_fails_no_key() {
    // 60 keys at concurrency 16 against a host whose admin limiter answers 429
    // (Retry-After: 1) to any call arriving while 6 are in flight; latency makes
    // the calls overlap.
    let env = Env::with_faults(Faults {
        admin_latency_ms: 20,
        account_test_latency_ms: 60,
        max_concurrent_admin: Some(6),
        ..Faults::default()
    });
    let keys: Vec<String> = (0..60)
        .map(|i| format!("sk-good-lim{i:03}xxxxxxxxxxxxxxxxxxxx"))
        .collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let mut req = request(&refs, ImportMode::Strict, AccessMode::Subscription);
    req.concurrency = 16;
    let report = env.import(&env.journal, &req);

    assert_eq!(report.outcome, BatchStatus::Succeeded, "{report:#?}");
    assert_eq!(report.counts.passed, 60, "{:#?}", report.counts);
    for k in &report.keys {
        assert_eq!(
            (k.status, k.verdict),
            (ItemStatus::Passed, Some(Verdict::Passed)),
            "{k:#?}"
        );
    }
    // Every account exists exactly once.
    let accounts = env.list("accounts");
    assert_eq!(accounts.len(), 60);
    for key in &keys {
        let fp = Fingerprint::of(key);
        let n = accounts
            .iter()
            .filter(|a| a["api_key_sha256"] == json!(fp.as_str()))
            .count();
        assert_eq!(n, 1, "accounts of {}", fp.short());
    }
    // The host did push back, and the refused tests were made again.
    let counters = &env.host.state()["counters"];
    let refused = counters["admin_concurrency_refused"].as_u64().unwrap();
    assert!(refused > 0, "{counters}");
    assert!(env.adapter.i.tests.load(Ordering::SeqCst) > 60);
    assert!(counters["admin_in_flight_peak"].as_u64().unwrap() <= 6);
}

#[test]
fn replace_existing_retires_accounts_of_keys_no_longer_imported() {
    let env = Env::start();
    let first = env.import(
        &env.journal,
        &request(
            &[GOOD_1, GOOD_2],
            ImportMode::Strict,
            AccessMode::SelfService,
        ),
    );
    assert_eq!(first.outcome, BatchStatus::Succeeded);
    // An unmanaged account in the same group must survive.
    let group = first.resources[0].host_id;
    let stranger = env
        .client()
        .create_account(
            &env.target()
                .new_account(&Secret::new(GOOD_3), group, "manual"),
            None,
        )
        .unwrap();

    // Without replace_existing nothing is retired.
    let second = env.import(
        &env.batch("batch_2"),
        &request(&[GOOD_2], ImportMode::Strict, AccessMode::SelfService),
    );
    assert!(second.retired.is_empty());

    let mut req = request(
        &[GOOD_2, GOOD_3],
        ImportMode::Strict,
        AccessMode::SelfService,
    );
    req.replace_existing = true;
    let third = env.import(&env.batch("batch_3"), &req);
    assert_eq!(third.outcome, BatchStatus::Succeeded, "{third:#?}");
    assert_eq!(third.retired.len(), 1, "{:#?}", third.retired);
    let retired = &third.retired[0];
    assert_eq!(retired.reason, RetireReason::Replaced);
    assert_eq!(retired.fingerprint, Some(Fingerprint::of(GOOD_1)));
    assert!(env
        .client()
        .get_account(retired.account_id)
        .unwrap_err()
        .is_not_found());
    assert!(
        env.client().get_account(stranger.id).is_ok(),
        "unmanaged account untouched"
    );
    let e = env
        .journal
        .entries()
        .into_iter()
        .find(|e| {
            e.host_resource_id == Some(retired.account_id)
                && e.resource_type == ResourceType::Account
        })
        .unwrap();
    assert_eq!(e.state, ResourceState::Retired);
    // GOOD_3 got its own managed account (the stranger is not managed).
    assert_eq!(key_result(&third, GOOD_3).status, ItemStatus::Passed);
}

#[test]
fn duplicate_managed_accounts_of_a_key_are_retired_keeping_the_newest_passing() {
    let env = Env::start();
    let first = env.import(
        &env.journal,
        &request(&[GOOD_1], ImportMode::Strict, AccessMode::SelfService),
    );
    let group = first.resources[0].host_id;
    // A duplicate of the same key, adopted into the journal (e.g. after a crash).
    let dup = env
        .client()
        .create_account(
            &env.target().new_account(&Secret::new(GOOD_1), group, "x"),
            None,
        )
        .unwrap();
    let mut entry = NewEntry::new(ResourceType::Account, "dup", json!({"group_id": group}));
    entry.fingerprint = Some(Fingerprint::of(GOOD_1));
    let b0 = env.batch("batch_0");
    b0.record_existing(&entry, dup.id, ResourceState::Adopted)
        .unwrap();
    // The next import retires one of the two duplicates.
    let second = env.import(
        &env.batch("batch_2"),
        &request(&[GOOD_2], ImportMode::Strict, AccessMode::SelfService),
    );
    assert_eq!(second.retired.len(), 1, "{second:#?}");
    assert_eq!(second.retired[0].reason, RetireReason::Duplicate);
    assert_eq!(second.retired[0].fingerprint, Some(Fingerprint::of(GOOD_1)));
    let accounts = env.list("accounts");
    let with_key = accounts
        .iter()
        .filter(|a| a["api_key_sha256"] == json!(Fingerprint::of(GOOD_1).as_str()))
        .count();
    assert_eq!(with_key, 1);
}

#[test]
fn a_host_failure_while_ensuring_rolls_back_and_reports() {
    let env = Env::start();
    let before = env.objects();
    let target = env.target();
    // The channel create answers 500: admin calls from now are the preview's group
    // and channel lists, then group list, group create, channel list, channel create.
    env.host.set_faults(Faults {
        fail_nth_admin_call: Some(6),
        ..Faults::default()
    });
    let req = request(&[GOOD_1], ImportMode::Partial, AccessMode::SelfService);
    let report = import(&env.ports(&env.journal), &AccessClosure, &target, &req).unwrap();
    assert_eq!(report.outcome, BatchStatus::Failed, "{report:#?}");
    assert!(
        report.error.as_deref().unwrap().contains("channel"),
        "{:?}",
        report.error
    );
    assert!(report.rollback.as_ref().unwrap().complete);
    assert_eq!(env.objects(), before);
    // The channel intent was resolved as absent, the group deleted.
    let states: Vec<(ResourceType, ResourceState)> = env
        .journal
        .entries()
        .iter()
        .map(|e| (e.resource_type, e.state))
        .collect();
    assert_eq!(
        states,
        vec![
            (ResourceType::Group, ResourceState::Deleted),
            (ResourceType::Channel, ResourceState::Absent)
        ]
    );
}

#[test]
fn transient_account_create_failures_are_retried_with_the_same_idempotency_key() {
    let env = Env::start();
    let target = env.target();
    let req = request(&[GOOD_1], ImportMode::Strict, AccessMode::SelfService);
    // Admin calls from now: preview group and channel lists, group list, group
    // create, channel list, channel create, then the account create, which answers
    // 500 once inside the handler, so the host holds its Idempotency-Key in the
    // 5 s retry backoff: the retry waits it out (an earlier retry would be refused
    // with IDEMPOTENCY_RETRY_BACKOFF), reuses the key and must not duplicate.
    env.host.set_faults(Faults {
        fail_nth_admin_call: Some(7),
        ..Faults::default()
    });
    let started = std::time::Instant::now();
    let report = import(&env.ports(&env.journal), &AccessClosure, &target, &req).unwrap();
    assert_eq!(report.outcome, BatchStatus::Succeeded, "{report:#?}");
    assert_eq!(env.list("accounts").len(), 1);
    assert_eq!(env.adapter.i.creates.load(Ordering::SeqCst), 2);
    assert!(started.elapsed() >= Duration::from_secs(5));
}

fn env_with_404_account_tests(repair: bool) -> (Env, ImportRequest) {
    env_with_advisory_account_tests(repair, false)
}

/// `responses_only`: the host is an older build whose account test answers "Responses
/// API only" instead of testing (otherwise the test answers 404).
fn env_with_advisory_account_tests(repair: bool, responses_only: bool) -> (Env, ImportRequest) {
    let env = Env::with_faults(Faults {
        responses_misdetection: true,
        responses_probe_delay_ms: 0,
        responses_only_test: responses_only,
        ..Faults::default()
    });
    // The account test runs only after the host marked the upstream as Responses-capable,
    // so it goes to /v1/responses, which the third-party upstream answers with 404.
    *env.adapter.i.before_test.lock().unwrap() = Some(Box::new(wait_for_responses_probe));
    let mut req = request(&[GOOD_1], ImportMode::Strict, AccessMode::Subscription);
    req.probe.repair = repair;
    req.probe.warmup_window = Duration::from_millis(600);
    (env, req)
}

#[test]
fn a_404_account_test_is_a_warning_confirmed_by_the_gateway() {
    let (env, req) = env_with_404_account_tests(true);
    let target = env.target_with(responses_manifest());
    let report = import(&env.ports(&env.journal), &AccessClosure, &target, &req).unwrap();
    let k = key_result(&report, GOOD_1);
    assert_eq!(
        k.reason,
        Some(TestReason::NotFoundPendingGateway),
        "{report:#?}"
    );
    assert!(k
        .host_message
        .as_deref()
        .unwrap()
        .contains("API returned 404"));
    assert!(k.needs_gateway_confirmation);
    assert_eq!(k.status, ItemStatus::Warning);
    assert_eq!(report.access.status, AccessStatus::SubscriptionReady);
    assert_eq!(report.outcome, BatchStatus::Succeeded);
}

#[test]
fn a_404_account_test_whose_gateway_probe_fails_becomes_a_failure() {
    let (env, req) = env_with_404_account_tests(false);
    let before = env.objects();
    let target = env.target_with(responses_manifest());
    let report = import(&env.ports(&env.journal), &AccessClosure, &target, &req).unwrap();
    let k = key_result(&report, GOOD_1);
    assert_eq!(
        k.reason,
        Some(TestReason::NotFoundPendingGateway),
        "{report:#?}"
    );
    assert_eq!(k.status, ItemStatus::Failed);
    assert_eq!(report.access.status, AccessStatus::Broken);
    assert_eq!(report.outcome, BatchStatus::Failed);
    assert!(report
        .error
        .as_deref()
        .unwrap()
        .contains("gateway confirmation"));
    // Strict: everything, including the closure's user, subscription and key, is gone.
    let rb = report.rollback.as_ref().unwrap();
    assert!(rb.complete, "{rb:#?}");
    assert!(rb
        .deleted
        .iter()
        .any(|d| d.resource_type == ResourceType::User));
    assert_eq!(env.objects(), before);
}

#[test]
fn an_older_hosts_responses_only_account_test_is_a_warning_confirmed_by_the_gateway() {
    let (env, req) = env_with_advisory_account_tests(true, true);
    let target = env.target_with(responses_manifest());
    let report = import(&env.ports(&env.journal), &AccessClosure, &target, &req).unwrap();
    let k = key_result(&report, GOOD_1);
    assert_eq!(
        k.reason,
        Some(TestReason::ResponsesOnlyPendingGateway),
        "{report:#?}"
    );
    assert_eq!(
        k.host_message.as_deref(),
        Some(sub2api_mock::RESPONSES_ONLY_TEST_MESSAGE)
    );
    assert!(k.needs_gateway_confirmation);
    assert_eq!(k.status, ItemStatus::Warning);
    assert_eq!(report.access.status, AccessStatus::SubscriptionReady);
    assert_eq!(report.outcome, BatchStatus::Succeeded);
    assert_eq!(env.list("accounts").len(), 1);
}

#[test]
fn an_older_hosts_responses_only_account_test_whose_gateway_probe_fails_becomes_a_failure() {
    let (env, req) = env_with_advisory_account_tests(false, true);
    let before = env.objects();
    let target = env.target_with(responses_manifest());
    let report = import(&env.ports(&env.journal), &AccessClosure, &target, &req).unwrap();
    let k = key_result(&report, GOOD_1);
    assert_eq!(
        k.reason,
        Some(TestReason::ResponsesOnlyPendingGateway),
        "{report:#?}"
    );
    assert_eq!(k.status, ItemStatus::Failed);
    assert_eq!(report.access.status, AccessStatus::Broken);
    assert_eq!(report.outcome, BatchStatus::Failed);
    assert!(report
        .error
        .as_deref()
        .unwrap()
        .contains("gateway confirmation"));
    let rb = report.rollback.as_ref().unwrap();
    assert!(rb.complete, "{rb:#?}");
    assert_eq!(env.objects(), before);
}

const BATCH_ROUTE: &str = "POST /api/v1/admin/accounts/batch";
const CREATE_ROUTE: &str = "POST /api/v1/admin/accounts";

fn account_entries(env: &Env) -> Vec<relay_core::JournalEntry> {
    env.journal
        .entries()
        .into_iter()
        .filter(|e| e.resource_type == ResourceType::Account)
        .collect()
}

#[test]
fn several_new_keys_are_created_with_one_batch_call() {
    let env = Env::with_faults(Faults {
        account_test_latency_ms: 100,
        ..Faults::default()
    });
    let keys = [GOOD_1, GOOD_2, GOOD_3];
    let mut req = request(&keys, ImportMode::Strict, AccessMode::SelfService);
    req.concurrency = 2;
    let report = env.import(&env.journal, &req);
    assert_eq!(report.outcome, BatchStatus::Succeeded, "{report:#?}");
    assert_eq!(env.route_calls(BATCH_ROUTE), 1);
    assert_eq!(env.route_calls(CREATE_ROUTE), 0);
    assert_eq!(env.adapter.i.creates.load(Ordering::SeqCst), 0);
    // Tests stay bounded-parallel after the batch.
    assert_eq!(env.adapter.i.tests.load(Ordering::SeqCst), 3);
    assert_eq!(env.adapter.i.max_tests_in_flight.load(Ordering::SeqCst), 2);
    let accounts = env.list("accounts");
    assert_eq!(accounts.len(), 3);
    // Every key maps to the host account named after it, and the journal holds one
    // created entry per account, with its host id.
    let entries = account_entries(&env);
    assert_eq!(entries.len(), 3);
    for key in keys {
        let k = key_result(&report, key);
        assert_eq!(k.status, ItemStatus::Passed);
        let host = find(&accounts, "id", &json!(k.account_id.unwrap())).expect("on host");
        assert_eq!(host["name"], json!(k.account_name));
        assert_eq!(host["group_ids"], json!([report.access.group_id]));
        let e = entries
            .iter()
            .find(|e| e.fingerprint.as_ref() == Some(&k.fingerprint))
            .unwrap();
        assert_eq!(
            (e.state, e.host_resource_id),
            (ResourceState::Created, k.account_id)
        );
    }
    let rb = rollback_batch(&env.adapter, &env.journal, &env.vault, &report.batch_id).unwrap();
    assert!(rb.complete);
    assert!(env.list("accounts").is_empty());
}

#[test]
fn a_host_without_a_working_batch_create_gets_one_create_per_key() {
    let env = Env::start();
    // The 0.1.27 build answers the batch route with a placeholder that creates nothing.
    env.host.set_policy(sub2api_mock::HostPolicy {
        legacy_account_batch: true,
        ..sub2api_mock::HostPolicy::default()
    });
    let req = request(
        &[GOOD_1, GOOD_2, GOOD_3],
        ImportMode::Strict,
        AccessMode::SelfService,
    );
    let report = env.import(&env.journal, &req);
    assert_eq!(report.outcome, BatchStatus::Succeeded, "{report:#?}");
    assert_eq!(env.route_calls(BATCH_ROUTE), 1);
    assert_eq!(env.route_calls(CREATE_ROUTE), 3);
    assert_eq!(env.list("accounts").len(), 3);
    // The intents journaled for the batch are the ones the single creates attach to.
    let entries = account_entries(&env);
    assert_eq!(entries.len(), 3);
    assert!(entries
        .iter()
        .all(|e| e.state == ResourceState::Created && e.host_resource_id.is_some()));
}

#[test]
fn a_refused_batch_item_fails_its_key_and_what_the_host_left_is_cleaned_up() {
    for mode in [ImportMode::Partial, ImportMode::Strict] {
        let env = Env::start();
        let before = env.objects();
        let target_name = target_account_name(&env, GOOD_2);
        // The host refuses the second item (a group that does not exist): it inserts
        // the account, fails to bind the group and reports the item as failed.
        *env.adapter.i.before_batch.lock().unwrap() = Some(Box::new(move |accounts| {
            for a in accounts.iter_mut().filter(|a| a.name == target_name) {
                a.group_ids = vec![987_654];
            }
        }));
        let req = request(&[GOOD_1, GOOD_2, GOOD_3], mode, AccessMode::SelfService);
        let report = env.import(&env.journal, &req);
        let failed = key_result(&report, GOOD_2);
        assert_eq!(failed.status, ItemStatus::Failed, "{report:#?}");
        assert!(failed
            .host_message
            .as_deref()
            .unwrap()
            .contains("account_groups_group_id_fkey"));
        let leftover = failed.account_id.expect("the host's leftover is recorded");
        let entry = account_entries(&env)
            .into_iter()
            .find(|e| e.fingerprint.as_ref() == Some(&failed.fingerprint))
            .unwrap();
        assert_eq!(entry.host_resource_id, Some(leftover));
        assert!(
            find(&env.list("accounts"), "id", &json!(leftover)).is_none(),
            "{mode:?}: the leftover is deleted"
        );
        match mode {
            ImportMode::Partial => {
                assert_eq!(report.outcome, BatchStatus::PartiallySucceeded);
                assert_eq!(entry.state, ResourceState::Deleted);
                assert_eq!(env.list("accounts").len(), 2);
                for k in [GOOD_1, GOOD_3] {
                    assert_eq!(key_result(&report, k).status, ItemStatus::Passed);
                }
            }
            ImportMode::Strict => {
                assert_eq!(report.outcome, BatchStatus::Failed);
                assert_eq!(env.objects(), before, "rolled back exactly");
            }
        }
    }
}

fn target_account_name(env: &Env, key: &str) -> String {
    env.target().account_name(&Fingerprint::of(key))
}

#[test]
fn a_500_on_the_batch_call_is_retried_with_the_same_key_and_creates_once() {
    let env = Env::start();
    let target = env.target();
    let req = request(
        &[GOOD_1, GOOD_2],
        ImportMode::Strict,
        AccessMode::SelfService,
    );
    // Admin calls: preview group and channel lists, group list, group create,
    // channel list, channel create, then the batch create answers 500 (inside the
    // handler: its Idempotency-Key enters the host's 5 s backoff).
    env.host.set_faults(Faults {
        fail_nth_admin_call: Some(7),
        ..Faults::default()
    });
    let report = import(&env.ports(&env.journal), &AccessClosure, &target, &req).unwrap();
    assert_eq!(report.outcome, BatchStatus::Succeeded, "{report:#?}");
    assert_eq!(env.adapter.i.batch_creates.load(Ordering::SeqCst), 2);
    assert_eq!(env.list("accounts").len(), 2);
    assert_eq!(account_entries(&env).len(), 2);
}

#[test]
fn an_enforcing_host_gets_a_key_on_every_guarded_write() {
    let env = Env::start();
    env.host.set_policy(sub2api_mock::HostPolicy {
        idempotency_enforced: true,
        ..sub2api_mock::HostPolicy::default()
    });
    // Subscription mode: batch account create, the probe subscriber's balance
    // top-up and its user key create all need a key.
    let req = request(
        &[GOOD_1, GOOD_2],
        ImportMode::Strict,
        AccessMode::Subscription,
    );
    let report = env.import(&env.journal, &req);
    assert_eq!(report.outcome, BatchStatus::Succeeded, "{report:#?}");
    assert_eq!(report.access.status, AccessStatus::SubscriptionReady);
    assert_eq!(env.list("accounts").len(), 2);
    assert_eq!(env.list("api_keys").len(), 1);
    let probe = find(&env.list("users"), "email", &json!(DEFAULT_PROBE_EMAIL)).cloned();
    assert!(probe.unwrap()["balance"].as_f64().unwrap() >= 1.0);
    // One key alone takes the single create, also with a key.
    let single = env.batch("batch_2");
    let report = env.import(
        &single,
        &request(&[GOOD_3], ImportMode::Strict, AccessMode::Subscription),
    );
    assert_eq!(report.outcome, BatchStatus::Succeeded, "{report:#?}");
    assert_eq!(env.list("accounts").len(), 3);
}

#[test]
fn a_prepared_import_reads_only_then_runs_from_its_one_preview() {
    let env = Env::start();
    let req = request(
        &[GOOD_1, GOOD_2, GOOD_1],
        ImportMode::Strict,
        AccessMode::Subscription,
    );
    let before = env.objects();
    let prepared =
        prepare_import(&env.adapter, &env.journal, &env.target(), req).expect("prepared");
    assert_eq!(
        env.objects(),
        before,
        "preparing writes nothing to the host"
    );
    assert!(env.journal.entries().is_empty(), "nor to the journal");
    assert_eq!(prepared.preview().counts.new, 2);
    assert_eq!(prepared.preview().counts.duplicate_in_request, 1);
    assert!(prepared.preview().can_import());
    // The redaction step is built from the keys normalised for the preview.
    let quoted = prepared.redactor().redact(&format!("bad key {GOOD_2}"));
    assert!(!quoted.contains(GOOD_2), "{quoted}");

    let report =
        import_prepared(&env.ports(&env.journal), &AccessClosure, &prepared).expect("import runs");
    assert_eq!(report.outcome, BatchStatus::Succeeded, "{report:#?}");
    assert_eq!(report.preview.as_ref(), Some(prepared.preview()));
    assert_eq!(env.list("accounts").len(), 2);
}

#[test]
fn a_prepared_import_with_a_blocking_problem_is_refused_and_writes_nothing() {
    let env = Env::start();
    let before = env.objects();
    let req = request(&["# no key"], ImportMode::Strict, AccessMode::Subscription);
    let prepared =
        prepare_import(&env.adapter, &env.journal, &env.target(), req).expect("prepared");
    assert!(!prepared.preview().can_import());
    let err = import_prepared(&env.ports(&env.journal), &AccessClosure, &prepared).unwrap_err();
    assert!(matches!(err, ProvisionError::Blocked { .. }), "{err}");
    assert_eq!(env.objects(), before);
    assert!(env.journal.entries().is_empty());
}
