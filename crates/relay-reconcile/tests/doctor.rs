//! Doctor against the in-process sub2api mock: the binding checks of SPEC §6.1,
//! their fixes, and `repair: true` changing the host back.

use relay_core::DEFAULT_PROBE_EMAIL;
use relay_core::*;
use relay_domain::{ProviderStatus, ResourceState, ResourceType, Secret};
use relay_reconcile::*;
use relay_sub2api::{AccountUpdate, ChannelUpdate, HostAdapter, SubscriptionFilter};
use relay_testkit::reconcile::*;
use relay_testkit::*;
use serde_json::{json, Value};

fn run(env: &Env, req: &DoctorRequest) -> DoctorReport {
    let journal = env.provider_journal();
    doctor(&env.ports(&journal), &env.target(), req).expect("doctor runs")
}

fn req(repair: bool) -> DoctorRequest {
    DoctorRequest {
        repair,
        probe: fast_probe(),
        ..DoctorRequest::default()
    }
}

fn one(report: &DoctorReport, name: CheckName) -> &DoctorCheck {
    let found: Vec<&DoctorCheck> = report.check(name).collect();
    assert_eq!(found.len(), 1, "{name:?}: {:#?}", report.checks);
    found[0]
}

fn statuses(checks: &[DoctorCheck]) -> Vec<(&'static str, CheckStatus)> {
    checks.iter().map(|c| (c.name.as_str(), c.status)).collect()
}

fn probe_user(env: &Env) -> i64 {
    env.list("users")
        .into_iter()
        .find(|u| u["email"] == DEFAULT_PROBE_EMAIL)
        .and_then(|u| u["id"].as_i64())
        .expect("probe user")
}

#[test]
fn a_healthy_provider_passes_every_check() {
    let env = Env::start();
    env.import(&[GOOD_1]);
    let report = run(&env, &req(false));
    use CheckStatus::Ok;
    assert_eq!(
        statuses(&report.checks),
        vec![
            ("schedulable_account", Ok),
            ("channel_bound", Ok),
            ("probe_key_bound", Ok),
            ("subscription_active", Ok),
            ("gateway_reachable", Ok),
            ("completion_works", Ok),
        ],
        "{:#?}",
        report.checks
    );
    assert!(report.healthy);
    assert!(report.checks.iter().all(|c| c.fix.is_none()));
    assert!(report.before_repair.is_none() && report.repairs.is_empty());
    let gid = env.group_id();
    let a = one(&report, CheckName::SchedulableAccount);
    assert_eq!(a.subject, format!("group {gid}"));
    assert_eq!(a.evidence["schedulable"], json!([env.account_id(GOOD_1)]));
    let c = one(&report, CheckName::ProbeKeyBound);
    assert_eq!(c.evidence["source"], "managed_subscription");
    assert_eq!(c.evidence["owner_user_id"], probe_user(&env));
    assert!(report.access.as_ref().unwrap().is_ready());
    // The pack's overlay for host 0.1.131 is surfaced.
    assert_eq!(report.overlays.len(), 1);
    assert_eq!(report.overlays[0].note, "known gap on this host line");
    no_secret_in(&env, &report);
}

#[test]
fn a_revoked_subscription_fails_the_subscription_and_completion_checks_and_repair_reassigns_it() {
    let env = Env::start();
    env.import(&[GOOD_1]);
    let (gid, uid) = (env.group_id(), probe_user(&env));
    let subs = env
        .client()
        .list_subscriptions(&SubscriptionFilter {
            user_id: Some(uid),
            group_id: Some(gid),
        })
        .unwrap();
    assert_eq!(subs.len(), 1);
    let old = subs[0].id;
    env.client()
        .revoke_subscription(old)
        .expect("revoke by hand");

    let report = run(&env, &req(false));
    assert!(!report.healthy);
    let d = one(&report, CheckName::SubscriptionActive);
    assert_eq!(d.status, CheckStatus::Fail, "{d:#?}");
    assert!(d.summary.contains(&format!("user {uid}")) && d.summary.contains("no subscription"));
    let fix = d.fix.as_deref().unwrap();
    assert!(fix.contains("relay doctor --repair"), "{fix}");
    assert!(fix.contains(&format!("group {gid}")));
    let f = one(&report, CheckName::CompletionWorks);
    assert_eq!(f.status, CheckStatus::Fail, "{f:#?}");
    assert_eq!(f.evidence["completion_status"], 403);
    assert!(f.fix.as_deref().unwrap().contains("subscription_active"));
    for name in [
        CheckName::SchedulableAccount,
        CheckName::ChannelBound,
        CheckName::ProbeKeyBound,
        CheckName::GatewayReachable,
    ] {
        assert_eq!(one(&report, name).status, CheckStatus::Ok, "{name:?}");
    }
    // Without repair nothing changed on the host: the revoked subscription is still
    // the only one (the host keeps a revoked row, listed as `revoked`).
    let subs = env.list("subscriptions");
    assert_eq!(subs.len(), 1, "{subs:?}");
    assert_eq!(subs[0]["status"], "revoked");

    let fixed = run(&env, &req(true));
    assert!(fixed.healthy, "{:#?}", fixed.checks);
    let repair = fixed
        .repairs
        .iter()
        .find(|r| r.kind == RepairKind::SubscriptionReassigned)
        .expect("re-assigned");
    assert!(repair.ok, "{repair:#?}");
    let before = fixed.before_repair.as_ref().expect("first pass kept");
    assert!(before
        .iter()
        .any(|c| c.name == CheckName::SubscriptionActive && c.status == CheckStatus::Fail));
    assert!(one(&fixed, CheckName::SubscriptionActive).repaired);
    assert!(one(&fixed, CheckName::CompletionWorks).repaired);
    // The host has an active subscription again (a new row beside the revoked one),
    // and the journal records it.
    let subs: Vec<Value> = env
        .list("subscriptions")
        .into_iter()
        .filter(|s| s["status"] != "revoked")
        .collect();
    assert_eq!(subs.len(), 1, "{subs:?}");
    assert_eq!(subs[0]["user_id"], uid);
    assert_eq!(subs[0]["group_id"], gid);
    assert_eq!(subs[0]["status"], "active");
    let new = subs[0]["id"].as_i64().unwrap();
    assert_eq!(repair.host_id, new);
    let entries = env.journal.entries();
    let state_of = |id| {
        entries
            .iter()
            .find(|e| {
                e.resource_type == ResourceType::Subscription && e.host_resource_id == Some(id)
            })
            .map(|e| e.state)
    };
    assert_eq!(state_of(new), Some(ResourceState::Created));
    assert_eq!(state_of(old), Some(ResourceState::Deleted));
    // Reconcile agrees: nothing is missing any more.
    let journal = env.provider_journal();
    let rec = reconcile(&env.ports(&journal), &env.target(), &request()).unwrap();
    assert_eq!(
        rec.verdict,
        ProviderStatus::Active,
        "{:#?}",
        rec.differences
    );
    no_secret_in(&env, &fixed);
}

#[test]
fn an_unbound_account_fails_the_schedulable_check_and_repair_binds_it() {
    let env = Env::start();
    env.import(&[GOOD_1]);
    let (id, gid) = (env.account_id(GOOD_1), env.group_id());
    env.client()
        .update_account(
            id,
            &AccountUpdate {
                group_ids: Some(vec![]),
                ..AccountUpdate::default()
            },
        )
        .unwrap();

    let report = run(&env, &req(false));
    let a = one(&report, CheckName::SchedulableAccount);
    assert_eq!(a.status, CheckStatus::Fail, "{a:#?}");
    assert_eq!(
        a.fix.as_deref(),
        Some(
            format!(
                "account {id} ({PROVIDER}-{}) is not in group {gid}: add it, or run `relay doctor --repair`",
                relay_domain::Fingerprint::of(GOOD_1).short()
            )
            .as_str()
        )
    );
    assert_eq!(a.evidence["accounts"][0]["bound"], false);
    assert_eq!(
        one(&report, CheckName::CompletionWorks).status,
        CheckStatus::Fail
    );
    assert!(env.account_of(GOOD_1).get("group_ids").is_none());

    let fixed = run(&env, &req(true));
    assert!(fixed.healthy, "{:#?}", fixed.checks);
    assert!(fixed
        .repairs
        .iter()
        .any(|r| r.kind == RepairKind::AccountRebound && r.ok && r.host_id == id));
    assert!(one(&fixed, CheckName::SchedulableAccount).repaired);
    assert_eq!(env.account_of(GOOD_1)["group_ids"], json!([gid]));
}

#[test]
fn an_unbound_channel_fails_and_repair_binds_it() {
    let env = Env::start();
    env.import(&[GOOD_1]);
    let (cid, gid) = (env.channel_id(), env.group_id());
    env.client()
        .update_channel(
            cid,
            &ChannelUpdate {
                group_ids: Some(vec![]),
                ..ChannelUpdate::default()
            },
        )
        .unwrap();
    let report = run(&env, &req(false));
    let b = one(&report, CheckName::ChannelBound);
    assert_eq!(b.status, CheckStatus::Fail);
    assert!(b
        .fix
        .as_deref()
        .unwrap()
        .contains(&format!("channel {cid} is not bound to group {gid}")));

    let fixed = run(&env, &req(true));
    assert_eq!(one(&fixed, CheckName::ChannelBound).status, CheckStatus::Ok);
    assert!(fixed
        .repairs
        .iter()
        .any(|r| r.kind == RepairKind::ChannelRebound && r.ok));
    assert_eq!(env.list("channels")[0]["group_ids"], json!([gid]));
}

/// Puts the account's key out of use as a transient 401 would: the key swapped for one
/// the vendor rejects and tested, so the host marks the account `error`.
fn put_in_error(env: &Env, id: i64) {
    set_key(env, id, INVALID);
    env.client().test_account(id, Some(SMOKE)).unwrap();
    assert_eq!(env.account(id)["status"], "error");
}

/// Sets the account's key on the host by hand (base URL and mapping kept).
fn set_key(env: &Env, id: i64, key: &str) {
    let target = env.target();
    env.client()
        .update_account(
            id,
            &AccountUpdate {
                credentials: Some(relay_sub2api::AccountCredentials {
                    api_key: Some(Secret::new(key)),
                    base_url: Some(target.provider.base_url.clone()),
                    model_mapping: target.account_model_mapping(),
                    ..Default::default()
                }),
                ..AccountUpdate::default()
            },
        )
        .unwrap();
}

#[test]
fn an_account_in_error_is_cleared_by_repair() {
    let env = Env::start();
    env.import(&[GOOD_1]);
    let id = env.account_id(GOOD_1);
    // A good key in error (e.g. after a transient 401): the host marks it.
    put_in_error(&env, id);
    // The operator fixes the key by hand; the account stays in error.
    set_key(&env, id, GOOD_1);

    let report = run(&env, &req(false));
    let a = one(&report, CheckName::SchedulableAccount);
    assert_eq!(a.status, CheckStatus::Fail);
    assert!(a.fix.as_deref().unwrap().contains("is in error"), "{a:#?}");

    let fixed = run(&env, &req(true));
    assert!(fixed
        .repairs
        .iter()
        .any(|r| r.kind == RepairKind::AccountErrorCleared && r.ok && r.host_id == id));
    assert_eq!(
        one(&fixed, CheckName::SchedulableAccount).status,
        CheckStatus::Ok
    );
    assert_eq!(env.account_of(GOOD_1)["status"], "active");
}

#[test]
fn a_supplied_key_outside_the_group_fails_the_key_check() {
    let env = Env::start();
    env.import(&[GOOD_1]);
    let stranger = "sk-not-a-host-key-0123456789abcdef";
    let report = run(
        &env,
        &DoctorRequest {
            supplied_key: Some(Secret::new(stranger)),
            ..req(false)
        },
    );
    let c = one(&report, CheckName::ProbeKeyBound);
    assert_eq!(c.status, CheckStatus::Fail);
    assert!(c.summary.contains("is not bound to any managed group"));
    assert_eq!(c.evidence["source"], "supplied_key");
    assert_eq!(
        one(&report, CheckName::SubscriptionActive).status,
        CheckStatus::Skipped
    );
    let f = one(&report, CheckName::CompletionWorks);
    assert_eq!(f.status, CheckStatus::Fail);
    assert_eq!(f.evidence["completion_status"], 401);
    let json = no_secret_in(&env, &report);
    assert!(!json.contains(stranger));
}

#[test]
fn without_any_probe_key_the_key_checks_are_skipped_with_a_fix() {
    let env = Env::start();
    // Self-service import without a supplied key: no managed subscriber key.
    env.import_with(
        &[GOOD_1],
        relay_domain::ImportMode::Strict,
        relay_domain::AccessMode::SelfService,
        None,
    );
    let report = run(&env, &req(false));
    for name in [
        CheckName::ProbeKeyBound,
        CheckName::SubscriptionActive,
        CheckName::CompletionWorks,
    ] {
        let c = one(&report, name);
        assert_eq!(c.status, CheckStatus::Skipped, "{c:#?}");
        assert!(c.fix.as_deref().unwrap().contains("--key"));
    }
    assert_eq!(
        one(&report, CheckName::SchedulableAccount).status,
        CheckStatus::Ok
    );
    assert!(report.healthy);
}

#[test]
fn an_unreachable_host_fails_reachability_and_skips_the_rest() {
    let env = Env::start();
    env.import(&[GOOD_1]);
    let target = env.target();
    let Env {
        host,
        journal,
        vault,
        random,
        probes,
        ..
    } = env;
    let base = host.base_url();
    drop(host);
    let adapter = client_for(&base, sub2api_mock::DEFAULT_ADMIN_API_KEY, 1);
    let handle = journal.with_batch(None);
    let ports = Ports {
        adapter: &adapter,
        journal: &handle,
        vault: &vault,
        random: &random,
        observer: &probes,
        clock: &SYSTEM_CLOCK,
    };
    let report = doctor(&ports, &target, &req(true)).expect("doctor reports");
    assert!(!report.healthy);
    let e = one(&report, CheckName::GatewayReachable);
    assert_eq!(e.status, CheckStatus::Fail);
    assert!(e.fix.as_deref().unwrap().contains("did not answer"));
    for c in report
        .checks
        .iter()
        .filter(|c| c.name != CheckName::GatewayReachable)
    {
        assert_eq!(c.status, CheckStatus::Skipped, "{c:#?}");
    }
    assert!(report.repairs.is_empty());
}

/// An account the host put into `error` after a vendor 402: the schedulable check
/// names it with the fix (top up), the completion check points at it, and no
/// capability repair runs (nothing is wrong with its routing).
#[test]
fn an_account_out_of_quota_is_named_with_its_fix() {
    let env = Env::start();
    env.import(&[GOOD_1]);
    let id = env.account_id(GOOD_1);
    let target = env.target();
    env.client()
        .update_account(
            id,
            &AccountUpdate {
                credentials: Some(relay_sub2api::AccountCredentials {
                    api_key: Some(Secret::new("sk-quota-0006ffffffffffffffffffff")),
                    base_url: Some(target.provider.base_url.clone()),
                    model_mapping: target.account_model_mapping(),
                    ..Default::default()
                }),
                ..AccountUpdate::default()
            },
        )
        .unwrap();
    // The first doctor run meets the empty balance through the gateway.
    let first = run(&env, &req(false));
    let f = one(&first, CheckName::CompletionWorks);
    assert_eq!(f.status, CheckStatus::Fail);
    assert!(
        f.fix.as_deref().unwrap().contains("vendor quota exhausted"),
        "{f:#?}"
    );
    assert_eq!(env.account(id)["status"], "error");

    let report = run(&env, &req(false));
    let a = one(&report, CheckName::SchedulableAccount);
    assert_eq!(a.status, CheckStatus::Fail);
    let fix = a.fix.as_deref().unwrap();
    assert!(
        fix.contains(&format!("account {id} ("))
            && fix.contains("402")
            && fix.contains("top up the vendor account"),
        "{fix}"
    );
    assert!(
        !fix.contains("Insufficient Balance"),
        "the vendor's text is not repeated"
    );
    let f = one(&report, CheckName::CompletionWorks);
    assert!(f.fix.as_deref().unwrap().contains("top up"), "{f:#?}");
    assert!(report
        .repairs
        .iter()
        .all(|r| r.kind != RepairKind::CapabilityRepair));
    let access = report.access.as_ref().unwrap();
    assert_eq!(access.accounts_out_of_service[0].account_id, id);
    no_secret_in(&env, &report);
}

/// Repair then verify across the host's `/v1/models` cache: the first pass caches a
/// list without the smoke model (only another account serves the group); after the
/// rebind the list stays stale for a while although the completion works, and the
/// doctor waits it out instead of failing.
#[test]
fn repair_then_verify_waits_out_the_models_cache() {
    let env = Env::start();
    env.import(&[GOOD_1]);
    let (id, gid) = (env.account_id(GOOD_1), env.group_id());
    let target = env.target();
    env.client()
        .create_account(
            &relay_sub2api::NewAccount {
                name: "hand-made-other".into(),
                notes: None,
                platform: "openai".into(),
                account_type: "apikey".into(),
                credentials: relay_sub2api::AccountCredentials {
                    api_key: Some(Secret::new(GOOD_2)),
                    base_url: Some(target.provider.base_url.clone()),
                    model_mapping: [("other-model".to_string(), "other-model".to_string())]
                        .into_iter()
                        .collect(),
                    ..Default::default()
                },
                extra: json!({"openai_responses_mode": "force_chat_completions"})
                    .as_object()
                    .cloned()
                    .unwrap(),
                group_ids: vec![gid],
                concurrency: None,
                priority: None,
            },
            None,
        )
        .unwrap();
    env.client()
        .update_account(
            id,
            &AccountUpdate {
                group_ids: Some(vec![]),
                ..AccountUpdate::default()
            },
        )
        .unwrap();
    // (Setting the lifetime also empties the cache the import filled.)
    env.host
        .set_models_cache_ttl(std::time::Duration::from_millis(2500));

    let fixed = run(&env, &req(true));
    let before = fixed.before_repair.as_ref().unwrap();
    let f = before
        .iter()
        .find(|c| c.name == CheckName::CompletionWorks)
        .unwrap();
    assert_eq!(f.status, CheckStatus::Fail);
    assert_eq!(f.evidence["completion_status"], 404, "{f:#?}");
    assert_eq!(f.evidence["completion_failure"], "model_not_supported");
    let c = one(&fixed, CheckName::CompletionWorks);
    assert_eq!(c.status, CheckStatus::Ok, "{c:#?}");
    assert!(c.repaired);
    let access = fixed.access.as_ref().unwrap();
    assert!(
        access.attempts >= 2,
        "the first list was stale: {access:#?}"
    );
}

/// The probe subscriber's subscription expired: the gateway answers `403
/// SUBSCRIPTION_NOT_FOUND`; the doctor names it, and `--repair` assigns it again,
/// which the host answers by renewing the same subscription.
#[test]
fn an_expired_subscription_is_renewed_by_repair() {
    let env = Env::start();
    env.import(&[GOOD_1]);
    let user = probe_user(&env);
    let sub = env
        .list("subscriptions")
        .into_iter()
        .find(|s| s["user_id"] == user)
        .and_then(|s| s["id"].as_i64())
        .unwrap();
    assert!(env.host.expire_subscription(sub));

    let report = run(&env, &req(false));
    let s = one(&report, CheckName::SubscriptionActive);
    assert_eq!(s.status, CheckStatus::Fail);
    assert!(s.fix.as_deref().unwrap().contains("renews it"), "{s:#?}");
    let f = one(&report, CheckName::CompletionWorks);
    assert_eq!(f.evidence["completion_status"], 403);
    assert_eq!(f.evidence["completion_failure"], "subscription_missing");
    assert_eq!(f.evidence["attempts"], 1, "a missing subscription is final");

    let fixed = run(&env, &req(true));
    assert!(fixed.healthy, "{:#?}", fixed.checks);
    assert!(fixed
        .repairs
        .iter()
        .any(|r| r.kind == RepairKind::SubscriptionReassigned && r.ok && r.host_id == sub));
    let subs: Vec<_> = env
        .list("subscriptions")
        .into_iter()
        .filter(|s| s["user_id"] == user)
        .collect();
    assert_eq!(subs.len(), 1, "renewed in place");
    assert_eq!(subs[0]["status"], "active");
}

/// An account the manager's key health took out of scheduling stays out under
/// `--repair`: its error is not cleared and it is not put back (a reconcile does it
/// once the key's test passes); the fix names the key health.
#[test]
fn repair_leaves_an_account_held_out_by_key_health_alone() {
    let env = Env::start();
    env.import(&[GOOD_1]);
    let id = env.account_id(GOOD_1);
    put_in_error(&env, id);
    env.client().set_account_schedulable(id, false).unwrap();

    let report = run(
        &env,
        &DoctorRequest {
            held_out: vec![(id, "auth".into())],
            ..req(true)
        },
    );
    assert!(
        report
            .repairs
            .iter()
            .all(|r| r.host_id != id || r.kind != RepairKind::AccountErrorCleared),
        "{:#?}",
        report.repairs
    );
    let a = one(&report, CheckName::SchedulableAccount);
    assert_eq!(a.status, CheckStatus::Fail);
    assert!(
        a.fix
            .as_deref()
            .unwrap()
            .contains("key health (cause auth)"),
        "{a:#?}"
    );
    assert_eq!(env.account(id)["status"], "error");
    assert_eq!(env.account(id)["schedulable"], false);
}
