//! Account-state recovery in the capability repair and in `doctor --repair`: the
//! host's one-call recovery and batch error clear where the build has them (checked
//! on sub2api 0.1.179), the old clear-error + temporary-unschedulable calls where it
//! does not (0.1.27).

use relay_domain::ProviderStatus;
use relay_reconcile::*;
use relay_sub2api::{AccountUpdate, HostAdapter};
use relay_testkit::reconcile::*;
use relay_testkit::*;
use serde_json::{json, Map, Value};
use sub2api_mock::HostKnobs;

const RECOVER: &str = "POST /api/v1/admin/accounts/:id/recover-state";
const BATCH_CLEAR: &str = "POST /api/v1/admin/accounts/batch-clear-error";
const CLEAR_ERROR: &str = "POST /api/v1/admin/accounts/:id/clear-error";
const CLEAR_TEMP: &str = "DELETE /api/v1/admin/accounts/:id/temp-unschedulable";

fn calls(env: &Env, route: &str) -> u64 {
    env.host.state()["counters"]["by_route"][route]
        .as_u64()
        .unwrap_or(0)
}

fn set_error(env: &Env, id: i64) {
    env.client()
        .update_account(
            id,
            &AccountUpdate {
                status: Some("error".into()),
                ..AccountUpdate::default()
            },
        )
        .unwrap();
    assert_eq!(env.account(id)["status"], "error");
}

fn flip_responses_flag(env: &Env, id: i64) {
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
}

fn doctor_repair(env: &Env) -> DoctorReport {
    let journal = env.provider_journal();
    doctor(
        &env.ports(&journal),
        &env.target(),
        &DoctorRequest {
            repair: true,
            probe: fast_probe(),
            ..DoctorRequest::default()
        },
    )
    .expect("doctor runs")
}

#[test]
fn the_capability_repair_recovers_the_account_in_one_call() {
    let env = Env::start();
    env.import(&[GOOD_1]);
    let id = env.account_id(GOOD_1);
    flip_responses_flag(&env, id);
    set_error(&env, id);

    let journal = env.provider_journal();
    let report = reconcile(&env.ports(&journal), &env.target(), &request()).unwrap();
    assert_eq!(report.verdict, ProviderStatus::Active, "{report:#?}");
    let repair = report
        .repairs
        .iter()
        .find(|r| r.kind == RepairKind::CapabilityRepair && r.host_id == id)
        .expect("capability repair");
    assert!(repair.ok, "{repair:#?}");
    let c = repair.capability.as_ref().unwrap();
    assert!(c.cleared_error && c.cleared_temp_unschedulable, "{c:#?}");
    assert_eq!(calls(&env, RECOVER), 1);
    assert_eq!(calls(&env, CLEAR_ERROR), 0);
    assert_eq!(calls(&env, CLEAR_TEMP), 0);
    let account = env.account(id);
    assert_eq!(account["status"], "active");
    assert_eq!(
        account["extra"]["openai_responses_mode"],
        "force_chat_completions"
    );
}

#[test]
fn on_an_old_build_the_capability_repair_falls_back_to_clear_error() {
    let env = Env::start();
    env.import(&[GOOD_1]);
    let id = env.account_id(GOOD_1);
    env.host.set_knobs(HostKnobs {
        old_build: true,
        ..HostKnobs::default()
    });
    flip_responses_flag(&env, id);
    set_error(&env, id);

    let journal = env.provider_journal();
    let report = reconcile(&env.ports(&journal), &env.target(), &request()).unwrap();
    assert_eq!(report.verdict, ProviderStatus::Active, "{report:#?}");
    let repair = report
        .repairs
        .iter()
        .find(|r| r.kind == RepairKind::CapabilityRepair && r.host_id == id)
        .expect("capability repair");
    assert!(repair.ok, "{repair:#?}");
    let c = repair.capability.as_ref().unwrap();
    assert!(c.cleared_error, "{c:#?}");
    assert!(
        !c.cleared_temp_unschedulable,
        "the old build has no temporary-unschedulable state"
    );
    assert_eq!(calls(&env, CLEAR_ERROR), 1);
    assert_eq!(env.account(id)["status"], "active");
}

#[test]
fn doctor_clears_several_accounts_in_error_with_one_batch_call() {
    let env = Env::start();
    env.import(&[GOOD_1, GOOD_2]);
    let ids = [env.account_id(GOOD_1), env.account_id(GOOD_2)];
    for id in ids {
        set_error(&env, id);
    }
    let report = doctor_repair(&env);
    assert!(report.healthy, "{:#?}", report.checks);
    for id in ids {
        let r = report
            .repairs
            .iter()
            .find(|r| r.kind == RepairKind::AccountErrorCleared && r.host_id == id)
            .unwrap_or_else(|| panic!("no repair of {id}: {:#?}", report.repairs));
        assert!(r.ok, "{r:#?}");
        assert!(r.detail.contains("batch_clear_error"), "{}", r.detail);
        assert_eq!(env.account(id)["status"], "active");
    }
    assert_eq!(calls(&env, BATCH_CLEAR), 1);
    assert_eq!(calls(&env, CLEAR_ERROR), 0);
    assert_eq!(calls(&env, RECOVER), 0);
}

#[test]
fn doctor_recovers_a_single_account_with_recover_state_and_old_builds_with_clear_error() {
    let env = Env::start();
    env.import(&[GOOD_1]);
    let id = env.account_id(GOOD_1);
    set_error(&env, id);
    let report = doctor_repair(&env);
    assert!(report.healthy, "{:#?}", report.checks);
    let r = report
        .repairs
        .iter()
        .find(|r| r.kind == RepairKind::AccountErrorCleared)
        .unwrap();
    assert!(r.ok && r.detail.contains("recover_state"), "{r:#?}");
    assert_eq!(calls(&env, RECOVER), 1);
    assert_eq!(calls(&env, BATCH_CLEAR), 0);

    env.host.set_knobs(HostKnobs {
        old_build: true,
        ..HostKnobs::default()
    });
    set_error(&env, id);
    let report = doctor_repair(&env);
    assert!(report.healthy, "{:#?}", report.checks);
    let r = report
        .repairs
        .iter()
        .find(|r| r.kind == RepairKind::AccountErrorCleared)
        .unwrap();
    assert!(r.ok && r.detail.contains("clear_error_then_temp"), "{r:#?}");
    assert_eq!(calls(&env, CLEAR_ERROR), 1);
    let account: Value = env.account(id);
    assert_eq!(account["status"], "active");
    assert!(env
        .client()
        .get_account(id)
        .unwrap()
        .error_message
        .is_none());
}
