//! The managed probe key moved to another group by hand: the access closure and
//! `doctor --repair` bind the same key back with the host's admin route (sub2api
//! 0.1.179 `PUT /api/v1/admin/api-keys/:id`) instead of creating a new key.

use relay_reconcile::*;
use relay_sub2api::{subscription_type, HostAdapter, NewGroup, ObjectId};
use relay_testkit::reconcile::*;
use relay_testkit::*;
use serde_json::Value;
use sub2api_mock::HostKnobs;

fn other_group(env: &Env) -> ObjectId {
    env.client()
        .create_group(&NewGroup {
            name: "by-hand".into(),
            description: None,
            platform: "openai".into(),
            rate_multiplier: 1.0,
            is_exclusive: false,
            subscription_type: subscription_type::STANDARD.into(),
            daily_limit_usd: None,
            weekly_limit_usd: None,
            monthly_limit_usd: None,
        })
        .unwrap()
        .id
}

fn keys(env: &Env) -> Vec<Value> {
    env.list("api_keys")
}

fn doctor_run(env: &Env, repair: bool) -> DoctorReport {
    let journal = env.provider_journal();
    doctor(
        &env.ports(&journal),
        &env.target(),
        &DoctorRequest {
            repair,
            probe: fast_probe(),
            ..DoctorRequest::default()
        },
    )
    .expect("doctor runs")
}

#[test]
fn the_closure_binds_a_moved_probe_key_back_instead_of_creating_one() {
    let env = Env::start();
    env.import(&[GOOD_1]);
    let (gid, other) = (env.group_id(), other_group(&env));
    let before = keys(&env);
    assert_eq!(before.len(), 1);
    let key_id = before[0]["id"].as_i64().unwrap();
    let moved = env.client().rebind_user_key(key_id, other).unwrap();
    assert_eq!(moved.group_id, Some(other));

    // A second import runs the access closure again.
    let report = env.import(&[GOOD_1]);
    let text = serde_json::to_string(&report).unwrap();
    assert!(
        text.contains(&format!(
            "was bound to group {other}; it is bound to group {gid} again"
        )),
        "{text}"
    );
    let after = keys(&env);
    assert_eq!(after.len(), 1, "no new key: {after:#?}");
    assert_eq!(after[0]["id"], key_id);
    assert_eq!(after[0]["group_id"], gid);
    assert_eq!(after[0]["key_sha256"], before[0]["key_sha256"]);
}

#[test]
fn on_an_old_build_the_closure_creates_a_new_key() {
    let env = Env::start();
    env.import(&[GOOD_1]);
    let other = other_group(&env);
    let key_id = keys(&env)[0]["id"].as_i64().unwrap();
    env.client().rebind_user_key(key_id, other).unwrap();
    env.host.set_knobs(HostKnobs {
        old_build: true,
        ..HostKnobs::default()
    });
    env.import(&[GOOD_1]);
    let after = keys(&env);
    assert_eq!(after.len(), 2, "{after:#?}");
    assert!(after
        .iter()
        .any(|k| k["id"] != key_id && k["group_id"] == env.group_id()));
}

#[test]
fn doctor_names_the_group_a_probe_key_was_moved_to_and_repair_binds_it_back() {
    let env = Env::start();
    env.import(&[GOOD_1]);
    let (gid, other) = (env.group_id(), other_group(&env));
    let key_id = keys(&env)[0]["id"].as_i64().unwrap();
    env.client().rebind_user_key(key_id, other).unwrap();

    let report = doctor_run(&env, false);
    assert!(!report.healthy);
    let check = report
        .check(CheckName::ProbeKeyBound)
        .next()
        .expect("key check");
    assert_eq!(check.status, CheckStatus::Fail);
    assert!(
        check.summary.contains(&format!(
            "(key {key_id}) is bound to group {other} instead of group {gid}"
        )),
        "{}",
        check.summary
    );
    assert!(
        check
            .fix
            .as_deref()
            .unwrap()
            .contains("relay doctor --repair"),
        "{check:#?}"
    );
    assert_eq!(keys(&env)[0]["group_id"], other, "no change without repair");

    let fixed = doctor_run(&env, true);
    assert!(fixed.healthy, "{:#?}", fixed.checks);
    let repair = fixed
        .repairs
        .iter()
        .find(|r| r.kind == RepairKind::ProbeKeyRebound)
        .expect("key rebound");
    assert!(repair.ok, "{repair:#?}");
    assert_eq!(repair.host_id, key_id);
    assert!(
        repair.name.contains('…'),
        "a mask, never the key: {}",
        repair.name
    );
    let after = keys(&env);
    assert_eq!(after.len(), 1);
    assert_eq!(after[0]["group_id"], gid);
    no_secret_in(&env, &fixed);
}
