//! Access closure against the in-process sub2api mock.

use std::sync::Mutex;
use std::time::Duration;

use relay_access::*;
use relay_core::*;
use relay_domain::{AccessStatus, Fingerprint, ModeProof, ResourceState, ResourceType, Secret};
use relay_sub2api::{subscription_type, HostAdapter, NewChannel, ObjectId};
use relay_testkit::access::{settings, Env, MODEL};
use sub2api_mock::Faults;

fn sub_access() -> SubscriptionAccess {
    SubscriptionAccess::new(
        30,
        "managed by relay-manager: test-pack/deepseek",
        "crm-test-key",
    )
}

fn plan(group_id: ObjectId, sub: Option<SubscriptionAccess>, key: Option<Secret>) -> AccessPlan {
    AccessPlan {
        group_id,
        subscription: sub,
        supplied_key: key,
        probe: settings(),
    }
}

fn entries_of(env: &Env, t: ResourceType) -> Vec<JournalEntry> {
    env.journal
        .entries()
        .into_iter()
        .filter(|e| e.resource_type == t)
        .collect()
}

#[derive(Default)]
struct Probes(Mutex<Vec<ProbeRecord>>);
impl Observer for Probes {
    fn probe(&self, record: ProbeRecord) {
        self.0.lock().unwrap().push(record);
    }
}

#[test]
fn subscription_closure_creates_subscriber_subscription_and_key_then_is_ready() {
    let env = Env::start();
    let (group, _) = env.group_with_account(
        "crm-t-sub",
        subscription_type::SUBSCRIPTION,
        "sk-good-1",
        true,
    );
    let report = close_access(&env.ports(), &plan(group.id, Some(sub_access()), None)).unwrap();
    assert_eq!(
        report.status,
        AccessStatus::SubscriptionReady,
        "{report:#?}"
    );
    let detail = report.subscription_detail.as_ref().unwrap();
    let probe = &detail.subscribers[0];
    assert!(probe.probe && probe.managed && probe.user_created && probe.key_created);
    assert!(probe.subscription_created);
    let proof = detail.proof.as_ref().unwrap();
    assert!(proof.smoke_model_seen && proof.completion_ok);
    assert_eq!(proof.key_source, ProbeKeySource::ManagedSubscription);
    assert_eq!(proof.completion_type.as_deref(), Some("chat.completion"));
    assert!(proof
        .completion_preview
        .as_deref()
        .unwrap()
        .contains("pong"));

    // Host objects exist: probe user, subscription, key bound to the group.
    let users = env.state_list("users");
    let user = users
        .iter()
        .find(|u| u["email"] == DEFAULT_PROBE_EMAIL)
        .expect("probe user");
    let uid = user["id"].as_i64().unwrap();
    assert!(user["balance"].as_f64().unwrap() >= DEFAULT_PROBE_BALANCE_USD);
    let subs = env.state_list("subscriptions");
    assert!(subs
        .iter()
        .any(|s| s["user_id"] == uid && s["group_id"] == group.id && s["status"] == "active"));
    let keys = env.state_list("api_keys");
    let key = keys.iter().find(|k| k["user_id"] == uid).expect("key");
    assert_eq!(key["group_id"], group.id);
    assert_eq!(
        key["key_sha256"].as_str().unwrap(),
        proof.key_fingerprint.as_str()
    );

    // Journal: user, subscription and user key, each created with a host id.
    for t in [
        ResourceType::User,
        ResourceType::Subscription,
        ResourceType::UserKey,
    ] {
        let e = entries_of(&env, t);
        assert_eq!(e.len(), 1, "{t}");
        assert_eq!(e[0].state, ResourceState::Created, "{t}");
        assert!(e[0].host_resource_id.is_some());
    }
    assert_eq!(env.vault.key_count(), 1);

    // Running again reuses everything: no new user, subscription or key.
    let again = close_access(&env.ports(), &plan(group.id, Some(sub_access()), None)).unwrap();
    assert_eq!(again.status, AccessStatus::SubscriptionReady);
    let p = &again.subscription_detail.as_ref().unwrap().subscribers[0];
    assert!(!p.user_created && !p.key_created && !p.subscription_created);
    assert_eq!(env.state_list("api_keys").len(), keys.len());
    assert_eq!(env.state_list("subscriptions").len(), subs.len());
    assert_eq!(
        env.journal.entries().len(),
        4,
        "{:#?}",
        env.journal.entries()
    );

    // Nothing secret in the report.
    let json = serde_json::to_string(&again).unwrap();
    let stored = env
        .vault
        .user_key(DEFAULT_PROBE_EMAIL, group.id)
        .unwrap()
        .unwrap();
    assert!(!json.contains(stored.expose()));
    assert!(!json.contains("sk-good-1"));
}

/// The probe subscriber's subscription expired: its key then gets `403
/// SUBSCRIPTION_NOT_FOUND`, and closing access again assigns it again, which the
/// host answers by renewing it in place (same id).
#[test]
fn expired_subscription_is_renewed_by_the_closure() {
    let env = Env::start();
    let (group, _) = env.group_with_account(
        "crm-t-exp",
        subscription_type::SUBSCRIPTION,
        "sk-good-14",
        true,
    );
    let first = close_access(&env.ports(), &plan(group.id, Some(sub_access()), None)).unwrap();
    assert_eq!(first.status, AccessStatus::SubscriptionReady, "{first:#?}");
    let sub_id = entries_of(&env, ResourceType::Subscription)[0]
        .host_resource_id
        .unwrap();
    assert!(env.host.expire_subscription(sub_id));
    let key = env
        .vault
        .user_key(DEFAULT_PROBE_EMAIL, group.id)
        .unwrap()
        .unwrap();
    let refused = env.client.gateway_models(&key).unwrap();
    assert_eq!(
        refused.failure(),
        Some(relay_sub2api::GatewayFailure::SubscriptionMissing)
    );

    let again = close_access(&env.ports(), &plan(group.id, Some(sub_access()), None)).unwrap();
    assert_eq!(again.status, AccessStatus::SubscriptionReady, "{again:#?}");
    let probe = &again.subscription_detail.as_ref().unwrap().subscribers[0];
    assert!(probe.problems.is_empty(), "{probe:#?}");
    assert!(!probe.subscription_created);
    assert!(
        probe.warnings.iter().any(|w| w.contains("had expired")),
        "{probe:#?}"
    );
    let subs = env.state_list("subscriptions");
    assert_eq!(subs.len(), 1, "renewed in place, not a second subscription");
    assert_eq!(subs[0]["id"], sub_id);
    assert_eq!(subs[0]["status"], "active");
}

#[test]
fn existing_users_get_a_subscription_but_no_key() {
    let env = Env::start();
    let (group, _) = env.group_with_account(
        "crm-t-sub2",
        subscription_type::SUBSCRIPTION,
        "sk-good-2",
        true,
    );
    let (other, _) = env.user_with_key("alice@example.com", None, 0.0);
    let mut access = sub_access();
    access.subscribers = vec![
        SubscriberSelector::UserId(other.id),
        SubscriberSelector::UserId(999_999),
        SubscriberSelector::Email("team@relay-manager.invalid".into()),
    ];
    let report = close_access(&env.ports(), &plan(group.id, Some(access), None)).unwrap();
    assert_eq!(report.status, AccessStatus::SubscriptionReady);
    let d = report.subscription_detail.unwrap();
    assert_eq!(d.subscribers.len(), 4);
    let alice = &d.subscribers[1];
    assert!(!alice.managed && alice.subscription_id.is_some() && alice.key_id.is_none());
    assert_eq!(d.subscribers[2].problems[0].code, "user_not_found");
    let team = &d.subscribers[3];
    assert!(team.managed && team.user_created && team.key_id.is_some());
    // Alice's balance is untouched; the managed users got the probe balance.
    let users = env.state_list("users");
    let a = users.iter().find(|u| u["id"] == other.id).unwrap();
    assert_eq!(a["balance"].as_f64(), Some(0.0));
    assert_eq!(
        env.state_list("subscriptions")
            .iter()
            .filter(|s| s["group_id"] == group.id)
            .count(),
        3
    );
    // The journal records Alice's subscription as created (the manager assigned it)
    // and never records Alice herself.
    assert!(entries_of(&env, ResourceType::User)
        .iter()
        .all(|e| e.host_resource_id != Some(other.id)));
}

#[test]
fn backend_mode_makes_subscription_access_broken_with_the_reason() {
    let env = Env::with_faults(Faults {
        backend_mode: true,
        ..Faults::default()
    });
    let (group, _) = env.group_with_account(
        "crm-t-bm",
        subscription_type::SUBSCRIPTION,
        "sk-good-3",
        true,
    );
    let report = close_access(&env.ports(), &plan(group.id, Some(sub_access()), None)).unwrap();
    assert_eq!(report.status, AccessStatus::Broken);
    let problems = report.problems();
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert_eq!(problems[0].code, "login_backend_mode");
    assert!(problems[0].message.contains("backend mode"));
    // The subscription was still assigned; no key exists.
    assert!(entries_of(&env, ResourceType::UserKey).is_empty());
    assert_eq!(entries_of(&env, ResourceType::Subscription).len(), 1);
    // The typed error of the key step.
    let err = ensure_user_key(
        &env.ports(),
        group.id,
        &sub_access(),
        DEFAULT_PROBE_EMAIL,
        report.subscription_detail.unwrap().subscribers[0]
            .user_id
            .unwrap(),
    )
    .unwrap_err();
    assert!(
        matches!(err, AccessError::LoginBackendMode { .. }),
        "{err:?}"
    );
}

#[test]
fn a_tencent_login_captcha_makes_subscription_access_broken_with_the_reason() {
    let env = Env::start();
    env.host.set_knobs(sub2api_mock::HostKnobs {
        login_captcha: Some("tencent".into()),
        ..sub2api_mock::HostKnobs::default()
    });
    let (group, _) = env.group_with_account(
        "crm-t-captcha",
        subscription_type::SUBSCRIPTION,
        "sk-good-4",
        true,
    );
    let report = close_access(&env.ports(), &plan(group.id, Some(sub_access()), None)).unwrap();
    assert_eq!(report.status, AccessStatus::Broken);
    let problems = report.problems();
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert_eq!(problems[0].code, "login_captcha");
    assert!(
        problems[0].message.contains("tencent captcha"),
        "{}",
        problems[0].message
    );
    assert!(entries_of(&env, ResourceType::UserKey).is_empty());
}

#[test]
fn self_service_with_a_bound_key_is_ready_and_an_unbound_key_is_not() {
    let env = Env::start();
    let (group, _) =
        env.group_with_account("crm-t-self", subscription_type::STANDARD, "sk-good-4", true);
    let (_, bound) = env.user_with_key("bob@example.com", Some(group.id), 5.0);
    let probes = Probes::default();
    let report = check_self_service(
        &env.ports().with_observer(&probes),
        group.id,
        &bound.key,
        &settings(),
        None,
    )
    .unwrap();
    assert_eq!(report.status, ModeProof::Ready, "{report:#?}");
    assert!(report.bound);
    assert_eq!(report.key_id, Some(bound.key_id()));
    assert_eq!(report.key_fingerprint, Fingerprint::of(bound.key.expose()));
    let kinds: Vec<ProbeKind> = probes.0.lock().unwrap().iter().map(|p| p.kind).collect();
    assert_eq!(
        kinds,
        vec![ProbeKind::GatewayModels, ProbeKind::GatewayChat]
    );

    let (_, unbound) = env.user_with_key("carol@example.com", None, 5.0);
    let bad = check_self_service(&env.ports(), group.id, &unbound.key, &settings(), None).unwrap();
    assert_eq!(bad.status, ModeProof::Broken);
    assert!(!bad.bound && bad.proof.is_none());
    assert_eq!(bad.problems[0].code, "key_not_bound");
    let text = serde_json::to_string(&bad).unwrap();
    assert!(!text.contains(unbound.key.expose()));
    assert!(!bad.problems[0].message.contains(unbound.key.expose()));

    // Through close_access: self-service only.
    let r = close_access(&env.ports(), &plan(group.id, None, Some(bound.key.clone()))).unwrap();
    assert_eq!(r.status, AccessStatus::SelfServiceReady);
    assert_eq!(r.subscription, ModeProof::NotAttempted);
}

trait KeyId {
    fn key_id(&self) -> ObjectId;
}
impl KeyId for relay_sub2api::UserKey {
    fn key_id(&self) -> ObjectId {
        self.id
    }
}

#[test]
fn both_modes_prove_fully_ready() {
    let env = Env::start();
    let (group, _) = env.group_with_account(
        "crm-t-both",
        subscription_type::SUBSCRIPTION,
        "sk-good-5",
        true,
    );
    // The operator's user gets a subscription through the closure, then binds a key.
    let (op, _) = env.user_with_key("dave@example.com", None, 0.0);
    let mut access = sub_access();
    access.subscribers = vec![SubscriberSelector::UserId(op.id)];
    let first = close_access(&env.ports(), &plan(group.id, Some(access.clone()), None)).unwrap();
    assert_eq!(first.status, AccessStatus::SubscriptionReady);
    let relay_sub2api::LoginOutcome::LoggedIn(session) = env
        .client
        .login_user("dave@example.com", &Secret::new("operator-Pa55"))
        .unwrap()
    else {
        panic!("login")
    };
    let key = env
        .client
        .create_user_key(
            &session,
            &relay_sub2api::NewUserKey {
                name: "dave".into(),
                group_id: group.id,
                custom_key: None,
            },
            None,
        )
        .unwrap();
    let both = close_access(
        &env.ports(),
        &plan(group.id, Some(access), Some(key.key.clone())),
    )
    .unwrap();
    assert_eq!(both.status, AccessStatus::FullyReady, "{both:#?}");
    assert_eq!(both.proofs().len(), 2);
    assert_eq!(both.proofs()[1].key_source, ProbeKeySource::SuppliedKey);
}

#[test]
fn warmup_503_is_retried_until_ready() {
    let env = Env::with_faults(Faults {
        warmup_ms: 1_200,
        ..Faults::default()
    });
    let (group, _) =
        env.group_with_account("crm-t-warm", subscription_type::STANDARD, "sk-good-6", true);
    let (_, key) = env.user_with_key("erin@example.com", Some(group.id), 5.0);
    let probes = Probes::default();
    let s = ProbeSettings {
        warmup_window: Duration::from_secs(10),
        ..settings()
    };
    let proof = probe_gateway(
        &env.ports().with_observer(&probes),
        &key.key,
        relay_domain::AccessMode::SelfService,
        ProbeKeySource::SuppliedKey,
        &s,
        None,
    )
    .unwrap();
    assert!(proof.is_ready(), "{proof:#?}");
    assert!(proof.attempts >= 2, "{proof:#?}");
    let records = probes.0.lock().unwrap();
    assert!(records
        .iter()
        .any(|r| r.kind == ProbeKind::GatewayChat && r.http_status == Some(503)));
    assert!(records
        .iter()
        .all(|r| !r.subject.contains(key.key.expose())));
}

#[test]
fn warmup_longer_than_the_window_is_broken() {
    // The host stays cold for a minute; the probe's own backoff spends the whole
    // (default, 30 s) window in virtual time.
    let mut env = Env::with_faults(Faults {
        warmup_ms: 60_000,
        ..Faults::default()
    });
    let clock = env.virtual_time();
    let real = std::time::Instant::now();
    let (group, _) =
        env.group_with_account("crm-t-cold", subscription_type::STANDARD, "sk-good-7", true);
    let (_, key) = env.user_with_key("finn@example.com", Some(group.id), 5.0);
    let s = ProbeSettings::new(MODEL);
    let proof = probe_gateway(
        &env.ports(),
        &key.key,
        relay_domain::AccessMode::SelfService,
        ProbeKeySource::SuppliedKey,
        &s,
        None,
    )
    .unwrap();
    assert_eq!(proof.proof, ModeProof::Broken);
    assert_eq!(proof.completion_status, Some(503));
    // Backoffs of 0.5 s doubling to 4 s, stopping before the 30 s window ends.
    let sleeps = clock.sleeps();
    assert_eq!(
        sleeps[..4],
        [500, 1000, 2000, 4000].map(Duration::from_millis)
    );
    assert!(sleeps.iter().all(|d| *d <= s.max_backoff));
    assert!(clock.elapsed_total() <= s.warmup_window, "{sleeps:?}");
    assert!(
        clock.elapsed_total() + s.max_backoff > s.warmup_window,
        "{sleeps:?}"
    );
    assert_eq!(proof.attempts as usize, sleeps.len() + 1);
    assert_eq!(proof.elapsed_ms, clock.elapsed_total().as_millis() as u64);
    assert!(
        real.elapsed() < Duration::from_secs(20),
        "waited in real time"
    );
    assert!(
        proof.smoke_model_seen,
        "models listed, completion refused: still broken"
    );
    assert!(proof.attempts >= 2);
    // The real host's wording (no "no available accounts" any more).
    assert_eq!(
        proof.message.as_deref(),
        Some("Service temporarily unavailable")
    );
    assert!(proof.accounts_out_of_service.is_empty());
}

#[test]
fn responses_misdetection_is_repaired_once_and_recorded() {
    let env = Env::with_faults(Faults {
        responses_misdetection: true,
        responses_probe_delay_ms: 0,
        ..Faults::default()
    });
    let (group, account) = env.group_with_account(
        "crm-t-resp",
        subscription_type::STANDARD,
        "sk-good-8",
        false,
    );
    // Let the host's asynchronous Responses probe misdetect the upstream.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while env
        .client
        .get_account(account.id)
        .unwrap()
        .extra
        .get("openai_responses_supported")
        != Some(&serde_json::json!(true))
    {
        assert!(std::time::Instant::now() < deadline, "probe never ran");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (_, key) = env.user_with_key("gus@example.com", Some(group.id), 5.0);
    let report = close_access(&env.ports(), &plan(group.id, None, Some(key.key.clone()))).unwrap();
    assert_eq!(report.status, AccessStatus::SelfServiceReady, "{report:#?}");
    let repairs = report.repairs();
    assert_eq!(repairs.len(), 1);
    assert_eq!(repairs[0].account_id, account.id);
    assert_eq!(repairs[0].previous_supported, Some(true));
    assert!(repairs[0].ok);
    let after = env.client.get_account(account.id).unwrap();
    assert!(after.responses_route().forces_chat_completions());
    assert_eq!(after.responses_route().supported, Some(false));
    let entry = entries_of(&env, ResourceType::Account).remove(0);
    assert_eq!(
        entry.details["capability_repairs"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // The proof shows the failed attempt, then success.
    let proof = report.proofs()[0];
    assert!(proof.attempts >= 2);
}

#[test]
fn without_a_repair_scope_misdetection_stays_broken() {
    let env = Env::with_faults(Faults {
        responses_misdetection: true,
        responses_probe_delay_ms: 0,
        ..Faults::default()
    });
    let (group, account) = env.group_with_account(
        "crm-t-nrep",
        subscription_type::STANDARD,
        "sk-good-9",
        false,
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while env
        .client
        .get_account(account.id)
        .unwrap()
        .extra
        .get("openai_responses_supported")
        .is_none()
    {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    let (_, key) = env.user_with_key("hal@example.com", Some(group.id), 5.0);
    let s = ProbeSettings {
        warmup_window: Duration::from_millis(500),
        ..settings()
    };
    let proof = probe_gateway(
        &env.ports(),
        &key.key,
        relay_domain::AccessMode::SelfService,
        ProbeKeySource::SuppliedKey,
        &s,
        None,
    )
    .unwrap();
    assert_eq!(proof.proof, ModeProof::Broken);
    // Marked "supported", the host passes the vendor's `/responses` 404 through.
    assert_eq!(proof.completion_status, Some(404));
    assert_eq!(proof.completion_type.as_deref(), Some("not_found_error"));
    assert_eq!(proof.attempts, 1, "a passed-through 404 is not retried");
    assert!(proof.repairs.is_empty());
}

/// A vendor out of balance: the host answers 502 `upstream_error` (like a Responses
/// mismatch) and puts the account into `error` "Payment required (402)". The probe
/// reads the account, reports the quota problem with its fix, does not run the
/// capability repair (it would clear the error only for the next 402) and stops.
#[test]
fn quota_exhausted_upstream_is_reported_not_repaired() {
    let env = Env::start();
    let (group, account) = env.group_with_account(
        "crm-t-quota",
        subscription_type::STANDARD,
        "sk-quota-1",
        true,
    );
    let (_, key) = env.user_with_key("ivy@example.com", Some(group.id), 5.0);
    let scope = RepairScope::new(group.id, &env.journal);
    let proof = probe_gateway(
        &env.ports(),
        &key.key,
        relay_domain::AccessMode::SelfService,
        ProbeKeySource::SuppliedKey,
        &settings(),
        Some(&scope),
    )
    .unwrap();
    assert!(proof.smoke_model_seen);
    assert!(!proof.completion_ok);
    assert_eq!(proof.completion_status, Some(502));
    assert_eq!(proof.proof, ModeProof::Broken);
    assert_eq!(
        proof.attempts, 1,
        "an account out of service is not retried"
    );
    assert!(proof.repairs.is_empty() && !scope.used());
    assert_eq!(
        proof.accounts_out_of_service,
        vec![AccountOutOfService {
            account_id: account.id,
            account_name: account.name.clone(),
            reason: OutOfServiceReason::QuotaExhausted,
            until: None,
            fix: OutOfServiceReason::QuotaExhausted.fix().to_string(),
        }]
    );
    let message = proof.message.clone().unwrap();
    assert!(
        message.contains("quota or balance exhausted (402)"),
        "{message}"
    );
    let after = env.client.get_account(account.id).unwrap();
    assert_eq!(after.status, "error", "left for the operator");
    assert_eq!(
        after.extra["openai_responses_mode"],
        "force_chat_completions"
    );
    // No entry of the journal records a repair.
    let entry = entries_of(&env, ResourceType::Account).remove(0);
    assert!(entry.details.get("capability_repairs").is_none());
}

#[test]
fn invalid_upstream_key_is_reported_with_its_fix() {
    let env = Env::start();
    let (group, account) = env.group_with_account(
        "crm-t-badkey",
        subscription_type::STANDARD,
        "sk-invalid-1",
        true,
    );
    let (_, key) = env.user_with_key("ken@example.com", Some(group.id), 5.0);
    let scope = RepairScope::new(group.id, &env.journal);
    let proof = probe_gateway(
        &env.ports(),
        &key.key,
        relay_domain::AccessMode::SelfService,
        ProbeKeySource::SuppliedKey,
        &settings(),
        Some(&scope),
    )
    .unwrap();
    assert_eq!(proof.proof, ModeProof::Broken);
    assert_eq!(proof.attempts, 1);
    assert!(proof.repairs.is_empty());
    assert_eq!(proof.accounts_out_of_service.len(), 1);
    assert_eq!(
        proof.accounts_out_of_service[0].reason,
        OutOfServiceReason::KeyInvalid
    );
    assert_eq!(proof.accounts_out_of_service[0].account_id, account.id);
    // No secret and no vendor text in what the product reports.
    let text = serde_json::to_string(&proof).unwrap();
    assert!(!text.contains("sk-invalid-1") && !text.contains(key.key.expose()));
    assert!(!text.contains("Incorrect API key"));
}

/// Already in `error` before the probe (an earlier 402): the gateway answers 503 at
/// once; the probe does not sit out the warm-up window.
#[test]
fn accounts_already_out_of_service_end_the_warmup_at_once() {
    let env = Env::start();
    let (group, account) = env.group_with_account(
        "crm-t-dead",
        subscription_type::STANDARD,
        "sk-quota-2",
        true,
    );
    let (_, key) = env.user_with_key("lea@example.com", Some(group.id), 5.0);
    // A first request puts the account into `error`.
    let first = env
        .client
        .gateway_chat(
            &key.key,
            &relay_sub2api::ChatProbeRequest {
                model: MODEL.into(),
                max_tokens: 8,
                stream: false,
            },
        )
        .unwrap();
    assert_eq!(first.http_status, 502);
    let scope = RepairScope::new(group.id, &env.journal);
    let s = ProbeSettings {
        warmup_window: Duration::from_secs(20),
        ..settings()
    };
    let started = std::time::Instant::now();
    let proof = probe_gateway(
        &env.ports(),
        &key.key,
        relay_domain::AccessMode::SelfService,
        ProbeKeySource::SuppliedKey,
        &s,
        Some(&scope),
    )
    .unwrap();
    assert!(started.elapsed() < Duration::from_secs(5), "{proof:#?}");
    assert_eq!(proof.completion_status, Some(503));
    assert_eq!(proof.attempts, 1);
    assert_eq!(proof.accounts_out_of_service[0].account_id, account.id);
    assert_eq!(
        proof.accounts_out_of_service[0].reason,
        OutOfServiceReason::QuotaExhausted
    );
}

/// The smoke model mapped by no account of the pool: the host's `404
/// model_not_found` is final, not a warm-up answer.
#[test]
fn model_not_found_is_final() {
    let env = Env::start();
    let (group, _) = env.group_with_account(
        "crm-t-nomap",
        subscription_type::STANDARD,
        "sk-good-11",
        true,
    );
    let (_, key) = env.user_with_key("max@example.com", Some(group.id), 5.0);
    let s = ProbeSettings {
        smoke_model: "unmapped-model".into(),
        warmup_window: Duration::from_secs(10),
        ..settings()
    };
    let proof = probe_gateway(
        &env.ports(),
        &key.key,
        relay_domain::AccessMode::SelfService,
        ProbeKeySource::SuppliedKey,
        &s,
        None,
    )
    .unwrap();
    assert_eq!(proof.proof, ModeProof::Broken);
    assert_eq!(proof.attempts, 1);
    assert_eq!(proof.completion_status, Some(404));
    assert_eq!(proof.completion_type.as_deref(), Some("model_not_found"));
    assert_eq!(
        proof.message.as_deref(),
        Some("Model \"unmapped-model\" is not supported by any configured account in this group")
    );
}

/// Right after a mapping change the host may list the old models (its 15 s cache)
/// while the completion already works: the probe keeps polling past the cache
/// lifetime and ends ready.
#[test]
fn stale_models_list_is_polled_past_the_cache_lifetime() {
    let env = Env::start();
    env.host.set_models_cache_ttl(Duration::from_millis(1500));
    let (group, account) = env.group_with_account(
        "crm-t-stale",
        subscription_type::STANDARD,
        "sk-good-12",
        true,
    );
    let (_, key) = env.user_with_key("ned@example.com", Some(group.id), 5.0);
    let s = ProbeSettings {
        smoke_model: "later-model".into(),
        warmup_window: Duration::from_millis(300),
        models_cache_ttl: Duration::from_millis(1500),
        ..settings()
    };
    // The list is read (and cached) before the mapping gains the smoke model.
    let before = env.client.gateway_models(&key.key).unwrap();
    assert!(!before.lists("later-model"));
    let mut mapping = account.model_mapping.clone();
    mapping.insert("later-model".into(), "later-model".into());
    env.client
        .update_account(
            account.id,
            &relay_sub2api::AccountUpdate {
                credentials: Some(relay_sub2api::AccountCredentials {
                    api_key: None,
                    base_url: Some(relay_testkit::VENDOR_BASE.into()),
                    model_mapping: mapping,
                    other: Default::default(),
                }),
                ..Default::default()
            },
        )
        .unwrap();
    let proof = probe_gateway(
        &env.ports(),
        &key.key,
        relay_domain::AccessMode::SelfService,
        ProbeKeySource::SuppliedKey,
        &s,
        None,
    )
    .unwrap();
    assert!(proof.is_ready(), "{proof:#?}");
    assert!(proof.attempts >= 2, "the first list was stale: {proof:#?}");
}

/// The stale-list allowance is bounded: a list that never gains the smoke model is
/// broken once the cache lifetime has passed.
#[test]
fn stale_models_list_is_final_after_the_cache_lifetime() {
    let mut env = Env::start();
    let clock = env.virtual_time();
    env.host.set_models_cache_ttl(Duration::from_secs(30));
    let (group, account) = env.group_with_account(
        "crm-t-stuck",
        subscription_type::STANDARD,
        "sk-good-13",
        true,
    );
    let (_, key) = env.user_with_key("oli@example.com", Some(group.id), 5.0);
    assert!(env.client.gateway_models(&key.key).unwrap().lists(MODEL));
    let mut mapping = account.model_mapping.clone();
    mapping.insert("later-model".into(), "later-model".into());
    env.client
        .update_account(
            account.id,
            &relay_sub2api::AccountUpdate {
                credentials: Some(relay_sub2api::AccountCredentials {
                    api_key: None,
                    base_url: Some(relay_testkit::VENDOR_BASE.into()),
                    model_mapping: mapping,
                    other: Default::default(),
                }),
                ..Default::default()
            },
        )
        .unwrap();
    let s = ProbeSettings {
        smoke_model: "later-model".into(),
        warmup_window: Duration::from_millis(200),
        models_cache_ttl: Duration::from_secs(15),
        ..settings()
    };
    let started = std::time::Instant::now();
    let proof = probe_gateway(
        &env.ports(),
        &key.key,
        relay_domain::AccessMode::SelfService,
        ProbeKeySource::SuppliedKey,
        &s,
        None,
    )
    .unwrap();
    assert_eq!(proof.proof, ModeProof::Broken);
    assert!(proof.completion_ok && !proof.smoke_model_seen);
    // Polled once more right after the cache lifetime (15 s + 1 s), in virtual time.
    assert!(
        clock.elapsed_total() >= Duration::from_secs(16),
        "{:?}",
        clock.sleeps()
    );
    assert!(clock.elapsed_total() < Duration::from_secs(17));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(proof
        .message
        .as_deref()
        .unwrap()
        .contains("caches the list"));
}

#[test]
fn channel_restriction_is_never_ready() {
    // A channel restricting models refuses the smoke model: 503 through the window
    // (the default window, in virtual time).
    let mut env = Env::start();
    let clock = env.virtual_time();
    let (group, _) = env.group_with_account(
        "crm-t-restr",
        subscription_type::STANDARD,
        "sk-good-10",
        true,
    );
    env.client
        .create_channel(&NewChannel {
            name: "crm-t-restr".into(),
            group_ids: vec![group.id],
            model_pricing: vec![relay_sub2api::ModelPricing {
                platform: "openai".into(),
                models: vec!["other-model".into()],
                billing_mode: "token".into(),
                input_price: Some(0.000001),
                output_price: Some(0.000002),
                ..Default::default()
            }],
            restrict_models: true,
            ..Default::default()
        })
        .unwrap();
    let (_, key) = env.user_with_key("jon@example.com", Some(group.id), 5.0);
    let s = ProbeSettings::new(MODEL);
    let proof = probe_gateway(
        &env.ports(),
        &key.key,
        relay_domain::AccessMode::SelfService,
        ProbeKeySource::SuppliedKey,
        &s,
        None,
    )
    .unwrap();
    assert!(proof.smoke_model_seen && !proof.completion_ok);
    assert_eq!(proof.proof, ModeProof::Broken);
    assert_eq!(proof.smoke_model, MODEL);
    assert!(clock.elapsed_total() > s.warmup_window - s.max_backoff);
}

#[test]
fn reachability_expects_api_key_required() {
    let env = Env::start();
    let probes = Probes::default();
    let r = check_reachability(&env.client, &probes);
    assert!(r.reachable, "{r:?}");
    assert_eq!(r.models_status, Some(401));
    assert_eq!(r.code.as_deref(), Some("API_KEY_REQUIRED"));
    assert!(r.chat_completions);
    assert_eq!(probes.0.lock().unwrap()[0].kind, ProbeKind::Reachability);
}

#[test]
fn closure_objects_are_found_by_name_and_keys_deleted_as_the_owner() {
    let env = Env::start();
    let (group, _) = env.group_with_account(
        "crm-t-res",
        subscription_type::SUBSCRIPTION,
        "sk-good-11",
        true,
    );
    close_access(&env.ports(), &plan(group.id, Some(sub_access()), None)).unwrap();
    for t in [
        ResourceType::User,
        ResourceType::Subscription,
        ResourceType::UserKey,
    ] {
        let e = entries_of(&env, t).remove(0);
        let found = find_access_resource(&env.client, &e).unwrap().unwrap();
        assert_eq!(found, vec![e.host_resource_id.unwrap()], "{t}");
    }
    assert!(
        find_access_resource(&env.client, &entries_of(&env, ResourceType::Account)[0]).is_none()
    );

    let key_entry = entries_of(&env, ResourceType::UserKey).remove(0);
    assert!(delete_managed_user_key(&env.client, &env.vault, &key_entry).unwrap());
    assert!(env.state_list("api_keys").is_empty());
    assert_eq!(env.vault.key_count(), 0);
    // Already gone: counts as done.
    assert!(!delete_managed_user_key(&env.client, &env.vault, &key_entry).unwrap());
}

#[test]
fn an_existing_active_subscription_is_kept_and_recorded_as_reused() {
    let env = Env::start();
    let (group, _) = env.group_with_account(
        "crm-t-keep",
        subscription_type::SUBSCRIPTION,
        "sk-good-12",
        true,
    );
    let (alice, _) = env.user_with_key("kim@example.com", None, 0.0);
    let relay_sub2api::AssignOutcome::Assigned(existing) = env
        .client
        .assign_subscription(&relay_sub2api::SubscriptionAssignment {
            user_id: alice.id,
            group_id: group.id,
            validity_days: Some(7),
            notes: Some("sold by hand".into()),
        })
        .unwrap()
    else {
        panic!("assign")
    };
    let mut access = sub_access();
    access.subscribers = vec![SubscriberSelector::UserId(alice.id)];
    let report = close_access(&env.ports(), &plan(group.id, Some(access), None)).unwrap();
    assert_eq!(report.status, AccessStatus::SubscriptionReady);
    let a = &report.subscription_detail.as_ref().unwrap().subscribers[1];
    assert_eq!(a.subscription_id, Some(existing.id));
    assert!(!a.subscription_created);
    let subs = entries_of(&env, ResourceType::Subscription);
    let kept = subs
        .iter()
        .find(|e| e.host_resource_id == Some(existing.id))
        .expect("recorded");
    assert_eq!(kept.state, ResourceState::Reused);
    // The host still has the hand-made subscription, unchanged.
    let on_host = env
        .state_list("subscriptions")
        .into_iter()
        .find(|s| s["id"] == existing.id)
        .unwrap();
    assert_eq!(on_host["notes"], "sold by hand");
}

#[test]
fn a_chatty_host_never_gets_a_password_user_key_or_jwt_into_the_report_or_probes() {
    let env = Env::with_faults(Faults {
        warmup_ms: 600,
        ..Faults::default()
    });
    env.host.set_knobs(sub2api_mock::HostKnobs {
        echo_secrets: true,
        ..sub2api_mock::HostKnobs::default()
    });
    let (group, _) = env.group_with_account(
        "crm-t-echo",
        subscription_type::SUBSCRIPTION,
        "sk-good-chatty-host-1",
        true,
    );
    let mut access = sub_access();
    access.subscribers = vec![SubscriberSelector::Email("echo-bob@example.com".into())];
    let probes = Probes::default();
    let ports = Ports {
        observer: &probes,
        ..env.ports()
    };
    let report = close_access(&ports, &plan(group.id, Some(access), None)).unwrap();
    assert_eq!(
        report.status,
        AccessStatus::SubscriptionReady,
        "{report:#?}"
    );
    // The host refused the marked subscriber, quoting its password: masked.
    let bob = env
        .vault
        .subscriber("echo-bob@example.com")
        .unwrap()
        .expect("password generated");
    let problems: Vec<&AccessProblem> = report.problems();
    let message = &problems
        .iter()
        .find(|p| p.subject == "echo-bob@example.com")
        .expect("bob's problem")
        .message;
    assert!(message.contains("is too weak"), "{message}");
    assert!(
        message.contains(&relay_domain::mask(bob.password.expose())),
        "{message}"
    );
    // The warm-up answers quoted the probe key: the gateway probe retried past them.
    let records = probes.0.lock().unwrap().clone();
    assert!(
        records
            .iter()
            .any(|r| r.http_status == Some(503) && r.message.is_some()),
        "{records:#?}"
    );
    let mut text = serde_json::to_string(&report).unwrap();
    for r in &records {
        text.push_str(&serde_json::to_string(r).unwrap());
    }
    let mut secrets = env.host.secrets();
    secrets.push(bob.password.expose().to_string());
    for s in &secrets {
        assert!(!text.contains(s.as_str()), "{s} leaked: {text}");
    }
}
