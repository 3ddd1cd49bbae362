//! Reconcile and doctor of a provider installed on the host's native CN platform
//! (`deepseek`), against the in-process sub2api mock: the `extra` the host writes is
//! not drift, no capability repair applies, and a vendor's low balance (the host's
//! recoverable `cn_balance_low` bench) is reported as such, never forced back.

use std::time::Duration;

use relay_core::TestReason;
use relay_core::{OutOfServiceReason, DEFAULT_PROBE_EMAIL};
use relay_domain::{AccessStatus, BatchStatus, ProviderStatus, Secret};
use relay_pack::{NativePlatform, Platform, ProviderManifest};
use relay_reconcile::*;
use relay_sub2api::{
    AccountCredentials, AccountUpdate, ChatProbeRequest, HostAdapter, TempUnschedulableCause,
};
use relay_testkit::reconcile::*;
use relay_testkit::*;
use serde_json::json;
use sub2api_mock::Faults;

const QUOTA: &str = "sk-quota-0005eeeeeeeeeeeeeeeeeeeeeeee";

fn native_manifest() -> ProviderManifest {
    ProviderManifest {
        native_platform: Some(NativePlatform {
            platform: Platform::Deepseek,
            host_version: ">=0.1.178".parse().unwrap(),
        }),
        ..manifest()
    }
}

fn native_env() -> Env {
    let env = Env::with(native_manifest(), Faults::default());
    let imported = env.import(&[GOOD_1]);
    assert_eq!(imported.outcome, BatchStatus::Succeeded, "{imported:#?}");
    assert_eq!(env.target().platform.platform, Platform::Deepseek);
    let id = env.account_id(GOOD_1);
    assert_eq!(env.account(id)["platform"], "deepseek");
    // The host writes its own `extra` shortly after the create.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while env.account(id)["extra"]["openai_responses_mode"] != "auto" {
        assert!(std::time::Instant::now() < deadline, "no host extra");
        std::thread::sleep(Duration::from_millis(20));
    }
    env
}

fn reconcile_run(env: &Env) -> ReconcileReport {
    let journal = env.provider_journal();
    reconcile(&env.ports(&journal), &env.target(), &request()).expect("reconcile runs")
}

fn doctor_run(env: &Env, repair: bool) -> DoctorReport {
    let journal = env.provider_journal();
    let req = DoctorRequest {
        repair,
        probe: fast_probe(),
        ..DoctorRequest::default()
    };
    doctor(&env.ports(&journal), &env.target(), &req).expect("doctor runs")
}

/// Puts a key without vendor balance on the account and sends one chat through the
/// gateway with the probe subscriber's key: the host benches the account.
fn run_out_of_balance(env: &Env) -> i64 {
    let id = env.account_id(GOOD_1);
    let target = env.target();
    env.client()
        .update_account(
            id,
            &AccountUpdate {
                credentials: Some(AccountCredentials {
                    api_key: Some(Secret::new(QUOTA)),
                    base_url: Some(target.provider.base_url.clone()),
                    model_mapping: target.account_model_mapping(),
                    ..AccountCredentials::default()
                }),
                ..AccountUpdate::default()
            },
        )
        .unwrap();
    let key =
        relay_core::SubscriberVault::user_key(&env.vault, DEFAULT_PROBE_EMAIL, env.group_id())
            .unwrap()
            .expect("probe key");
    let chat = env
        .client()
        .gateway_chat(
            &key,
            &ChatProbeRequest {
                model: SMOKE.into(),
                max_tokens: 8,
                stream: false,
            },
        )
        .unwrap();
    assert_eq!(chat.http_status, 502);
    let a = env.client().get_account(id).unwrap();
    assert_eq!(
        a.temp_unschedulable_cause(),
        Some(TempUnschedulableCause::VendorBalanceLow)
    );
    assert_eq!(a.status, "active");
    id
}

#[test]
fn the_hosts_own_extra_is_not_drift_and_no_capability_repair_applies() {
    let env = native_env();
    let report = reconcile_run(&env);
    assert_eq!(report.verdict, ProviderStatus::Active, "{report:#?}");
    assert!(report.differences.is_empty(), "{:#?}", report.differences);
    assert!(report.repairs.is_empty());

    // A Responses marker set by hand: the host ignores `extra` on this platform, so
    // there is nothing to repair and nothing to report.
    let id = env.account_id(GOOD_1);
    let mut extra = env.client().get_account(id).unwrap().extra;
    extra.insert("openai_responses_supported".into(), json!(true));
    extra.insert("deepseek_balance_low".into(), json!(true));
    env.client()
        .update_account(
            id,
            &AccountUpdate {
                extra: Some(extra.clone()),
                ..AccountUpdate::default()
            },
        )
        .unwrap();
    let report = reconcile_run(&env);
    assert_eq!(report.verdict, ProviderStatus::Active, "{report:#?}");
    assert!(report.differences.is_empty(), "{:#?}", report.differences);
    assert!(report.repairs.is_empty(), "{:#?}", report.repairs);
    assert_eq!(report.access_status, AccessStatus::SubscriptionReady);
    // The host's `extra` was left as it was.
    assert_eq!(
        env.client()
            .get_account(id)
            .unwrap()
            .extra
            .get("openai_responses_supported"),
        Some(&json!(true))
    );

    let d = doctor_run(&env, false);
    assert!(d.healthy, "{:#?}", d.checks);
}

#[test]
fn a_low_vendor_balance_is_reported_as_recovering_by_itself() {
    let env = native_env();
    let id = run_out_of_balance(&env);
    let tests_before = env.host_account_tests();

    let report = reconcile_run(&env);
    no_secret_in(&env, &report);
    assert_eq!(report.verdict, ProviderStatus::Failed, "{report:#?}");
    assert!(report.differences.is_empty(), "{:#?}", report.differences);
    assert!(report.repairs.is_empty(), "{:#?}", report.repairs);
    let check = report.accounts.iter().find(|c| c.account_id == id).unwrap();
    assert_eq!(check.reason, Some(TestReason::UpstreamQuotaExhausted));
    let message = check.message.as_deref().unwrap_or("");
    assert!(message.contains("low vendor balance"), "{message}");
    // Not tested again (the vendor would only refuse again).
    assert_eq!(env.host_account_tests(), tests_before);
    let proof = report.access.as_ref().expect("proof");
    assert_eq!(proof.accounts_out_of_service.len(), 1);
    let out = &proof.accounts_out_of_service[0];
    assert_eq!(out.reason, OutOfServiceReason::BalanceLow);
    assert!(out.recovers_by_itself() && out.until.is_some());
    // Every account benched: the probe stops at once instead of waiting out the window.
    assert_eq!(proof.attempts, 1, "{proof:#?}");
    assert!(proof
        .message
        .as_deref()
        .unwrap()
        .contains("vendor balance low"));
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("schedules it again by itself")),
        "{:#?}",
        report.notes
    );

    // Doctor names it, and `repair: true` does not force the bench away.
    let d = doctor_run(&env, true);
    let sched = d
        .check(CheckName::SchedulableAccount)
        .next()
        .expect("schedulable check");
    assert_eq!(sched.status, CheckStatus::Fail, "{sched:#?}");
    let fix = sched.fix.as_deref().unwrap();
    assert!(fix.contains("low vendor balance"), "{fix}");
    assert!(!fix.contains("relay doctor --repair"), "{fix}");
    assert_eq!(
        sched.evidence["accounts"][0]["temp_unschedulable_cause"],
        "vendor_balance_low"
    );
    assert!(d.repairs.is_empty(), "{:#?}", d.repairs);
    let a = env.client().get_account(id).unwrap();
    assert_eq!(
        a.temp_unschedulable_cause(),
        Some(TempUnschedulableCause::VendorBalanceLow)
    );
}
