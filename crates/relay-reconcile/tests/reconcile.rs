//! Reconcile against the in-process sub2api mock: a provider is imported with
//! the real import use-case, the host is changed by hand through its admin API,
//! and the run's report and the host's state are checked.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use relay_core::fakes::MemoryJournal;
use relay_core::ProbeKeySource;
use relay_core::*;
use relay_domain::{
    AccessStatus, BatchStatus, Fingerprint, PackId, ProviderEvent, ProviderId, ProviderStatus,
    ResourceType, Secret,
};

use relay_reconcile::*;
use relay_sub2api::{AccountCredentials, AccountUpdate, ChannelUpdate, HostAdapter, NewAccount};
use relay_testkit::reconcile::*;
use relay_testkit::*;
use serde_json::{json, Map, Value};
use sub2api_mock::Faults;

fn run(env: &Env, req: &ReconcileRequest) -> ReconcileReport {
    let journal = env.provider_journal();
    reconcile(&env.ports(&journal), &env.target(), req).expect("reconcile runs")
}

/// The account's credentials with its upstream key replaced by an invalid one
/// (the host replaces the non-secret credentials on update, so send them all).
fn invalid_credentials(env: &Env) -> AccountCredentials {
    let target = env.target();
    AccountCredentials {
        api_key: Some(Secret::new(INVALID)),
        base_url: Some(target.provider.base_url.clone()),
        model_mapping: target.account_model_mapping(),
        ..AccountCredentials::default()
    }
}

fn account_name(key: &str) -> String {
    format!("{PROVIDER}-{}", Fingerprint::of(key).short())
}

#[test]
fn a_clean_import_reconciles_active_with_no_difference() {
    let env = Env::start();
    let imported = env.import(&[GOOD_1, GOOD_2]);
    assert_eq!(imported.outcome, BatchStatus::Succeeded, "{imported:#?}");
    let entries_before = env.journal.entries();
    let tests_before = env.host_account_tests();

    let report = run(&env, &request());

    assert_eq!(report.verdict, ProviderStatus::Active, "{report:#?}");
    assert_eq!(report.provider_event, ProviderEvent::Healthy);
    assert!(report.differences.is_empty(), "{:#?}", report.differences);
    assert_eq!(report.access_status, AccessStatus::SubscriptionReady);
    let proof = report.access.as_ref().expect("access proof");
    assert_eq!(proof.key_source, ProbeKeySource::ManagedSubscription);
    assert!(proof.smoke_model_seen && proof.completion_ok);
    assert_eq!(report.access_group_id, Some(env.group_id()));
    assert_eq!(report.accounts.len(), 2);
    for a in &report.accounts {
        assert_eq!(a.outcome, AccountOutcome::Passed, "{a:#?}");
        assert!(a.tested);
        assert_eq!(a.models_include_smoke, Some(true));
    }
    // Every recorded object is on the host.
    assert_eq!(report.resources.len(), 8);
    assert!(report.resources.iter().all(|r| r.present));
    // Each account tested exactly once (the test has side effects).
    assert_eq!(env.adapter.i.tests.load(Ordering::SeqCst), 2);
    assert_eq!(env.host_account_tests() - tests_before, 2);
    let mut tested = env.adapter.i.tested.lock().unwrap().clone();
    tested.sort_unstable();
    tested.dedup();
    assert_eq!(tested.len(), 2);
    // The run wrote nothing to the journal.
    assert_eq!(env.journal.entries(), entries_before);
    assert!(report.repairs.is_empty());
    assert_eq!(report.counts.accounts_passed, 2);
    // Probes reached the observer.
    let kinds: Vec<_> = env.probes.all().iter().map(|p| p.kind.as_str()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "account_test").count(), 2);
    assert!(kinds.contains(&"gateway_chat"));
    no_secret_in(&env, &report);
}

#[test]
fn an_account_deleted_by_hand_is_missing_and_the_provider_drifts() {
    let env = Env::start();
    env.import(&[GOOD_1, GOOD_2]);
    let gone = env.account_id(GOOD_1);
    env.client().delete_account(gone).expect("delete by hand");

    let report = run(&env, &request());

    assert_eq!(report.verdict, ProviderStatus::Drifted, "{report:#?}");
    assert_eq!(report.provider_event, ProviderEvent::Drift);
    let missing: Vec<&Difference> = report
        .differences
        .iter()
        .filter(|d| d.kind == DifferenceKind::Missing)
        .collect();
    assert_eq!(missing.len(), 1, "{:#?}", report.differences);
    let d = missing[0];
    assert_eq!(d.resource_type, ResourceType::Account);
    assert_eq!(d.host_id, Some(gone));
    assert_eq!(d.name, account_name(GOOD_1));
    assert_eq!(
        d.detail,
        format!(
            "account {gone} ({}) was deleted on the host",
            account_name(GOOD_1)
        )
    );
    assert!(d.fix.contains("relay import"));
    assert!(!d.safe_fix && !d.repaired);
    let check = report
        .accounts
        .iter()
        .find(|a| a.account_id == gone)
        .unwrap();
    assert_eq!(check.outcome, AccountOutcome::NotTested);
    assert!(!check.tested);
    // The other account was tested, once; access still works through it.
    assert_eq!(env.adapter.i.tests.load(Ordering::SeqCst), 1);
    assert_eq!(report.access_status, AccessStatus::SubscriptionReady);
    assert!(
        !report
            .resources
            .iter()
            .find(|r| r.host_id == gone && r.resource_type == ResourceType::Account)
            .unwrap()
            .present
    );
    // The record is kept: a second run still reports the drift.
    assert_eq!(run(&env, &request()).verdict, ProviderStatus::Drifted);
    no_secret_in(&env, &report);
}

#[test]
fn a_channel_mapping_edited_by_hand_is_changed_and_repair_restores_it() {
    let env = Env::start();
    env.import(&[GOOD_1]);
    let cid = env.channel_id();
    let mut edited = BTreeMap::new();
    edited.insert(
        "openai".to_string(),
        [(SMOKE.to_string(), "deepseek-v4-pro".to_string())]
            .into_iter()
            .collect::<BTreeMap<_, _>>(),
    );
    env.client()
        .update_channel(
            cid,
            &ChannelUpdate {
                model_mapping: Some(edited),
                ..ChannelUpdate::default()
            },
        )
        .expect("edit by hand");

    let report = run(&env, &request());
    assert_eq!(report.verdict, ProviderStatus::Drifted, "{report:#?}");
    assert_eq!(report.differences.len(), 1, "{:#?}", report.differences);
    let d = &report.differences[0];
    assert_eq!(d.kind, DifferenceKind::Changed);
    assert_eq!(d.resource_type, ResourceType::Channel);
    assert_eq!(d.host_id, Some(cid));
    assert_eq!(d.field.as_deref(), Some("model_mapping"));
    assert_eq!(
        d.actual.as_ref().unwrap()["openai"][SMOKE],
        "deepseek-v4-pro"
    );
    assert_eq!(d.expected.as_ref().unwrap()["openai"][SMOKE], SMOKE);
    assert!(d.detail.contains("model_mapping") && d.detail.contains("deepseek-v4-pro"));
    assert!(d.safe_fix && !d.repaired);

    let fixed = run(
        &env,
        &ReconcileRequest {
            repair: true,
            ..request()
        },
    );
    assert_eq!(fixed.verdict, ProviderStatus::Active, "{fixed:#?}");
    assert!(fixed.differences.iter().all(|d| d.repaired));
    let r = fixed
        .repairs
        .iter()
        .find(|r| r.kind == RepairKind::ChannelRestored)
        .expect("channel repair");
    assert!(r.ok, "{r:#?}");
    assert_eq!(r.host_id, cid);
    let channel = &env.list("channels")[0];
    assert_eq!(channel["model_mapping"]["openai"][SMOKE], SMOKE);
    // The next run finds nothing.
    assert!(run(&env, &request()).differences.is_empty());
}

#[test]
fn a_channel_unbound_from_the_group_is_changed() {
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
    let report = run(&env, &request());
    let d = report
        .differences
        .iter()
        .find(|d| d.field.as_deref() == Some("group_ids"))
        .expect("binding difference");
    assert_eq!(d.resource_type, ResourceType::Channel);
    assert_eq!(d.expected, Some(json!([gid])));
    assert_eq!(d.actual, Some(json!([])));
    assert!(d
        .detail
        .contains(&format!("no longer bound to group {gid}")));
    assert_eq!(report.verdict, ProviderStatus::Drifted);
}

#[test]
fn an_account_unbound_by_hand_is_changed_and_repair_binds_it_again() {
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
        .expect("unbind by hand");

    let report = run(&env, &request());
    assert_eq!(report.verdict, ProviderStatus::Drifted);
    let d = &report.differences[0];
    assert_eq!(report.differences.len(), 1, "{:#?}", report.differences);
    assert_eq!(
        (d.kind, d.resource_type, d.field.as_deref()),
        (
            DifferenceKind::Changed,
            ResourceType::Account,
            Some("group_ids")
        )
    );
    assert_eq!(d.expected, Some(json!([gid])));
    assert_eq!(d.actual, Some(json!([])));
    assert!(d.detail.contains(&format!("was removed from group {gid}")));
    assert!(d.fix.contains("--repair"));
    // Nothing can serve the group: the access proof is broken.
    assert_eq!(report.access_status, AccessStatus::Broken);

    let fixed = run(
        &env,
        &ReconcileRequest {
            repair: true,
            ..request()
        },
    );
    assert_eq!(fixed.verdict, ProviderStatus::Active, "{fixed:#?}");
    assert!(fixed.differences[0].repaired);
    assert!(fixed
        .repairs
        .iter()
        .any(|r| r.kind == RepairKind::AccountRebound && r.ok && r.host_id == id));
    assert_eq!(env.account_of(GOOD_1)["group_ids"], json!([gid]));
    assert_eq!(fixed.access_status, AccessStatus::SubscriptionReady);
}

#[test]
fn accounts_made_by_hand_are_unmanaged_duplicates() {
    let env = Env::start();
    env.import(&[GOOD_1]);
    let gid = env.group_id();
    let target = env.target();
    // One in the managed group, unknown to the journal.
    let mut in_group = target.new_account(&Secret::new(GOOD_3), gid, "by-hand");
    in_group.name = "hand-made".into();
    let stranger = env.client().create_account(&in_group, None).unwrap();
    // One outside the group with the deterministic name of the managed account.
    let twin: NewAccount = NewAccount {
        group_ids: vec![],
        ..target.new_account(&Secret::new(GOOD_1), gid, "by-hand")
    };
    let twin = env.client().create_account(&twin, None).unwrap();

    let report = run(&env, &request());
    assert_eq!(report.verdict, ProviderStatus::Drifted, "{report:#?}");
    let dups: Vec<&Difference> = report
        .differences
        .iter()
        .filter(|d| d.kind == DifferenceKind::UnmanagedDuplicate)
        .collect();
    assert_eq!(dups.len(), 2, "{:#?}", report.differences);
    let a = dups
        .iter()
        .find(|d| d.host_id == Some(stranger.id))
        .unwrap();
    assert_eq!(a.name, "hand-made");
    assert!(a.detail.contains(&format!("bound to managed group {gid}")));
    assert!(a.fix.contains("delete"));
    let b = dups.iter().find(|d| d.host_id == Some(twin.id)).unwrap();
    assert_eq!(b.name, account_name(GOOD_1));
    assert!(b.detail.contains("deterministic name"), "{}", b.detail);
    // Unmanaged accounts are not tested by the manager.
    assert_eq!(env.adapter.i.tests.load(Ordering::SeqCst), 1);
}

#[test]
fn a_responses_flag_flipped_back_by_hand_is_repaired_and_the_provider_stays_active() {
    let env = Env::with(
        responses_manifest(),
        Faults {
            responses_misdetection: true,
            responses_probe_delay_ms: 50,
            ..Faults::default()
        },
    );
    let imported = env.import(&[GOOD_1]);
    assert_eq!(imported.outcome, BatchStatus::Succeeded, "{imported:#?}");
    let id = env.account_id(GOOD_1);
    env.wait_for_responses_probe(id);
    // By hand: the Responses flag back on, no mode.
    let mut extra = Map::new();
    extra.insert("openai_responses_supported".into(), json!(true));
    env.client()
        .update_account(
            id,
            &AccountUpdate {
                extra: Some(extra),
                ..AccountUpdate::default()
            },
        )
        .unwrap();
    assert_eq!(
        env.account_of(GOOD_1)["extra"],
        json!({"openai_responses_supported": true})
    );

    let report = run(&env, &request());

    assert_eq!(report.verdict, ProviderStatus::Active, "{report:#?}");
    assert_eq!(report.access_status, AccessStatus::SubscriptionReady);
    let repair = report
        .repairs
        .iter()
        .find(|r| r.kind == RepairKind::CapabilityRepair && r.host_id == id)
        .expect("capability repair recorded");
    assert!(repair.ok, "{repair:#?}");
    let c = repair.capability.as_ref().unwrap();
    assert_eq!(c.previous_supported, Some(true));
    assert_eq!(c.previous_mode, None);
    let extra = &env.account_of(GOOD_1)["extra"];
    assert_eq!(extra["openai_responses_mode"], "force_chat_completions");
    assert_eq!(extra["openai_responses_supported"], false);
    // The journal keeps the repair with the account's record.
    let entry = env
        .journal
        .entries()
        .into_iter()
        .find(|e| e.host_resource_id == Some(id) && e.resource_type == ResourceType::Account)
        .unwrap();
    assert!(!entry.details["capability_repairs"]
        .as_array()
        .unwrap()
        .is_empty());
    assert!(report.differences.is_empty());
    no_secret_in(&env, &report);
}

#[test]
fn a_flipped_flag_on_a_chat_only_provider_is_repaired_before_the_account_test() {
    let env = Env::start();
    env.import(&[GOOD_1]);
    let id = env.account_id(GOOD_1);
    let mut extra = Map::new();
    extra.insert("openai_responses_supported".into(), json!(true));
    env.client()
        .update_account(
            id,
            &AccountUpdate {
                extra: Some(extra),
                ..AccountUpdate::default()
            },
        )
        .unwrap();

    let report = run(&env, &request());
    assert_eq!(report.verdict, ProviderStatus::Active, "{report:#?}");
    let repair = &report.repairs[0];
    assert_eq!(repair.kind, RepairKind::CapabilityRepair);
    assert!(repair.detail.contains("flipped back"), "{}", repair.detail);
    // Repaired first, so the account test took the chat path and passed.
    assert_eq!(report.accounts[0].outcome, AccountOutcome::Passed);
    assert_eq!(
        env.account_of(GOOD_1)["extra"]["openai_responses_mode"],
        "force_chat_completions"
    );

    // With the capability repair off, the flip is reported instead.
    env.client()
        .update_account(
            id,
            &AccountUpdate {
                extra: Some(
                    json!({"openai_responses_supported": true})
                        .as_object()
                        .cloned()
                        .unwrap(),
                ),
                ..AccountUpdate::default()
            },
        )
        .unwrap();
    let mut probe = fast_probe();
    probe.repair = false;
    let report = run(&env, &ReconcileRequest { probe, ..request() });
    assert_eq!(report.verdict, ProviderStatus::Drifted);
    assert_eq!(
        report.differences[0].field.as_deref(),
        Some("extra.openai_responses_supported")
    );
    assert!(report.repairs.is_empty());
}

#[test]
fn an_account_whose_key_turned_invalid_degrades_the_provider() {
    let env = Env::start();
    env.import(&[GOOD_1, GOOD_2]);
    let bad = env.account_id(GOOD_2);
    env.client()
        .update_account(
            bad,
            &AccountUpdate {
                credentials: Some(invalid_credentials(&env)),
                ..AccountUpdate::default()
            },
        )
        .unwrap();

    let report = run(&env, &request());
    assert_eq!(report.verdict, ProviderStatus::Degraded, "{report:#?}");
    assert_eq!(report.provider_event, ProviderEvent::Degrade);
    assert!(report.differences.is_empty(), "{:#?}", report.differences);
    let failed = report
        .accounts
        .iter()
        .find(|a| a.account_id == bad)
        .unwrap();
    assert_eq!(failed.outcome, AccountOutcome::Failed);
    assert_eq!(failed.reason, Some(TestReason::UpstreamKeyInvalid));
    assert_eq!(failed.http_status, Some(401));
    let good = report
        .accounts
        .iter()
        .find(|a| a.account_id != bad)
        .unwrap();
    assert_eq!(good.outcome, AccountOutcome::Passed);
    assert_eq!(report.access_status, AccessStatus::SubscriptionReady);
    assert_eq!(env.adapter.i.tests.load(Ordering::SeqCst), 2);
    assert!(report.notes.iter().any(|n| n.contains("1 account(s) fail")));
    no_secret_in(&env, &report);

    // The failed test put the account in error: the next run does not test it
    // again (the test has side effects) and reports the host's error.
    let again = run(&env, &request());
    let failed = again.accounts.iter().find(|a| a.account_id == bad).unwrap();
    assert_eq!(failed.outcome, AccountOutcome::Failed);
    assert!(!failed.tested);
    assert_eq!(failed.host_status.as_deref(), Some("error"));
    assert_eq!(again.verdict, ProviderStatus::Degraded);
}

#[test]
fn every_account_failing_and_broken_access_fail_the_provider() {
    let env = Env::start();
    env.import(&[GOOD_1]);
    let id = env.account_id(GOOD_1);
    env.client()
        .update_account(
            id,
            &AccountUpdate {
                credentials: Some(invalid_credentials(&env)),
                ..AccountUpdate::default()
            },
        )
        .unwrap();
    let report = run(&env, &request());
    assert_eq!(report.verdict, ProviderStatus::Failed, "{report:#?}");
    assert_eq!(report.provider_event, ProviderEvent::Fail);
    assert_eq!(report.access_status, AccessStatus::Broken);
}

#[test]
fn account_tests_run_with_bounded_parallelism() {
    let env = Env::start();
    env.import(&[GOOD_1, GOOD_2, GOOD_3]);
    let mut faults = env.host.faults();
    faults.account_test_latency_ms = 300;
    env.host.set_faults(faults);
    let report = run(
        &env,
        &ReconcileRequest {
            concurrency: 2,
            ..request()
        },
    );
    assert_eq!(report.counts.accounts_passed, 3);
    assert_eq!(env.adapter.i.tests.load(Ordering::SeqCst), 3);
    assert_eq!(env.adapter.i.max_tests_in_flight.load(Ordering::SeqCst), 2);
    assert!(matches!(
        reconcile(
            &env.ports(&env.provider_journal()),
            &env.target(),
            &ReconcileRequest {
                concurrency: 0,
                ..request()
            }
        ),
        Err(ReconcileError::InvalidRequest(_))
    ));
}

#[test]
fn a_supplied_probe_key_proves_self_service_access() {
    let env = Env::start();
    env.import(&[GOOD_1]);
    // The managed probe key is a key of the group: supply it as the operator would.
    let gid = env.group_id();
    let key = env.client().list_group_keys(gid).unwrap()[0].key.clone();
    let report = run(
        &env,
        &ReconcileRequest {
            probe_key: Some(key.clone()),
            ..request()
        },
    );
    assert_eq!(report.access_status, AccessStatus::SelfServiceReady);
    let proof = report.access.as_ref().unwrap();
    assert_eq!(proof.key_source, ProbeKeySource::SuppliedKey);
    assert_eq!(report.access_group_id, Some(gid));
    let json = no_secret_in(&env, &report);
    assert!(!json.contains(key.expose()));
}

#[test]
fn an_unreachable_host_is_a_typed_error() {
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
    let err = reconcile(&ports, &target, &request()).unwrap_err();
    assert!(err.is_host_unreachable(), "{err:?}");
    assert_eq!(err.code(), "host_unreachable");
    assert!(matches!(err, ReconcileError::HostUnreachable { .. }));
    assert!(!err
        .to_string()
        .contains(sub2api_mock::DEFAULT_ADMIN_API_KEY));
}

#[test]
fn nothing_recorded_and_a_foreign_journal_are_refused() {
    let env = Env::start();
    let journal = env.provider_journal();
    let err = reconcile(&env.ports(&journal), &env.target(), &request()).unwrap_err();
    assert_eq!(err.code(), "nothing_recorded");

    let other = MemoryJournal::new(JournalScope {
        host_id: relay_domain::HostId::new("host_t"),
        pack_id: PackId("other-pack".into()),
        provider_id: ProviderId(PROVIDER.into()),
        batch_id: None,
    });
    let err = reconcile(&env.ports(&other), &env.target(), &request()).unwrap_err();
    assert!(
        matches!(err, ReconcileError::Core(CoreError::ScopeMismatch(_))),
        "{err:?}"
    );
}

#[test]
fn a_report_round_trips_as_json_with_stable_strings() {
    let env = Env::start();
    env.import(&[GOOD_1]);
    env.client().delete_account(env.account_id(GOOD_1)).unwrap();
    let report = run(&env, &request());
    let v: Value = serde_json::from_str(&no_secret_in(&env, &report)).unwrap();
    assert_eq!(v["verdict"], "drifted");
    assert_eq!(v["provider_event"], "drift");
    assert_eq!(v["differences"][0]["kind"], "missing");
    assert_eq!(v["differences"][0]["resource_type"], "account");
    assert_eq!(v["accounts"][0]["outcome"], "not_tested");
    assert!(v["timings"]["total_ms"].is_u64());
}

/// `extra` replaced by hand without either Responses key: the host's rule then
/// routes the account over the Responses API (no marker), so reconcile detects it
/// and repairs it like a flipped flag.
#[test]
fn a_lost_responses_marker_is_detected_and_repaired() {
    let env = Env::start();
    env.import(&[GOOD_1]);
    let id = env.account_id(GOOD_1);
    env.client()
        .update_account(
            id,
            &AccountUpdate {
                extra: Some(json!({"base_rpm": 30}).as_object().cloned().unwrap()),
                ..AccountUpdate::default()
            },
        )
        .unwrap();
    assert_eq!(env.account(id)["extra"], json!({"base_rpm": 30}));

    let report = run(&env, &request());
    assert_eq!(report.verdict, ProviderStatus::Active, "{report:#?}");
    let repair = &report.repairs[0];
    assert_eq!(repair.kind, RepairKind::CapabilityRepair);
    assert_eq!(repair.host_id, id);
    let extra = env.account(id)["extra"].clone();
    assert_eq!(extra["openai_responses_mode"], "force_chat_completions");
    assert_eq!(extra["openai_responses_supported"], false);
    assert_eq!(extra["base_rpm"], 30, "the rest of extra is kept");
    assert_eq!(report.accounts[0].outcome, AccountOutcome::Passed);
}

/// The vendor account ran out of balance: the gateway answers 502 like a Responses
/// mismatch, but the host put the account into `error` "Payment required (402)".
/// Reconcile reports quota exhaustion with its fix and runs no capability repair.
#[test]
fn an_exhausted_vendor_quota_is_reported_not_repaired() {
    let env = Env::start();
    env.import(&[GOOD_1]);
    let id = env.account_id(GOOD_1);
    let target = env.target();
    env.client()
        .update_account(
            id,
            &AccountUpdate {
                credentials: Some(AccountCredentials {
                    api_key: Some(Secret::new("sk-quota-0005eeeeeeeeeeeeeeeeeeee")),
                    base_url: Some(target.provider.base_url.clone()),
                    model_mapping: target.account_model_mapping(),
                    ..AccountCredentials::default()
                }),
                ..AccountUpdate::default()
            },
        )
        .unwrap();
    // Traffic meets the empty balance first: the host takes the account out.
    let report = run(&env, &request());
    assert_eq!(report.verdict, ProviderStatus::Failed, "{report:#?}");
    assert!(
        report
            .repairs
            .iter()
            .all(|r| r.kind != RepairKind::CapabilityRepair),
        "{:#?}",
        report.repairs
    );
    let check = &report.accounts[0];
    assert_eq!(check.reason, Some(TestReason::UpstreamQuotaExhausted));
    let after = env.account(id);
    assert_eq!(after["status"], "error");
    assert_eq!(
        after["extra"]["openai_responses_mode"],
        "force_chat_completions"
    );

    // The next run does not test the account again; it says why it is out.
    let again = run(&env, &request());
    let check = &again.accounts[0];
    assert!(!check.tested);
    assert_eq!(check.reason, Some(TestReason::UpstreamQuotaExhausted));
    let message = check.message.clone().unwrap();
    assert!(
        message.contains("402") && message.contains("top up"),
        "{message}"
    );
    let access = again.access.as_ref().unwrap();
    assert_eq!(access.accounts_out_of_service.len(), 1);
    assert_eq!(
        access.attempts, 1,
        "no warm-up wait for accounts out of service"
    );
    assert!(again
        .notes
        .iter()
        .any(|n| n.contains("out of service") && n.contains("vendor quota exhausted")));
    assert!(again
        .repairs
        .iter()
        .all(|r| r.kind != RepairKind::CapabilityRepair));
    no_secret_in(&env, &again);
}
