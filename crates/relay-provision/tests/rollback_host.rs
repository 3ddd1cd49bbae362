//! Rollback against host answers checked on a real sub2api 0.1.179: a plan that is
//! gone answers its delete with a bare 500 `internal error`, and an account that is
//! gone answers its delete with 200.

use relay_domain::{ResourceState, ResourceType};
use relay_provision::rollback_provider;
use relay_sub2api::{subscription_type, HostAdapter, NewGroup, NewPlan, ObjectId};
use relay_testkit::provision::*;
use serde_json::json;
use sub2api_mock::Faults;

/// A subscription group and a plan on the host, the plan journaled as created.
fn recorded_plan(env: &Env) -> ObjectId {
    let c = env.client();
    let group = c
        .create_group(&NewGroup {
            name: "crm-test-pack-deepseek-sub".into(),
            description: None,
            platform: "openai".into(),
            rate_multiplier: 1.0,
            is_exclusive: false,
            subscription_type: subscription_type::SUBSCRIPTION.into(),
            daily_limit_usd: None,
            weekly_limit_usd: None,
            monthly_limit_usd: None,
        })
        .unwrap();
    let plan = c
        .create_plan(&NewPlan {
            group_id: group.id,
            name: "crm-test-pack-deepseek-monthly".into(),
            description: None,
            price: 9.9,
            original_price: None,
            validity_days: 30,
            validity_unit: "day".into(),
            for_sale: Some(false),
        })
        .unwrap();
    let entry = relay_core::Journal::record_intent(
        &env.journal,
        &relay_core::NewEntry::new(
            ResourceType::Plan,
            plan.name.clone(),
            json!({"group_id": group.id}),
        ),
    )
    .unwrap();
    relay_core::Journal::attach_host_id(&env.journal, entry.id, plan.id, ResourceState::Created)
        .unwrap();
    plan.id
}

#[test]
fn a_plan_deleted_by_hand_counts_as_already_gone() {
    let env = Env::start();
    let plan = recorded_plan(&env);
    env.client().delete_plan(plan).unwrap();
    // The host answers the second delete with a bare 500.
    let again = env.client().delete_plan(plan).unwrap_err();
    assert_eq!(again.status(), Some(500));

    let rb = rollback_provider(&env.adapter, &env.journal, &env.vault).unwrap();
    assert!(rb.complete, "{:?}", rb.remaining);
    let gone = rb
        .deleted
        .iter()
        .find(|d| d.resource_type == ResourceType::Plan)
        .expect("plan in the report");
    assert_eq!(gone.host_id, plan);
    assert!(gone.already_gone);
}

#[test]
fn a_plan_delete_that_fails_while_the_plan_exists_is_a_failure() {
    let env = Env::start();
    let plan = recorded_plan(&env);
    // The next admin call (the plan delete) answers 500 and the plan stays.
    env.host.set_faults(Faults {
        fail_nth_admin_call: Some(1),
        ..Faults::default()
    });
    let rb = rollback_provider(&env.adapter, &env.journal, &env.vault).unwrap();
    assert!(!rb.complete);
    assert!(rb.deleted.is_empty(), "{:?}", rb.deleted);
    assert_eq!(rb.remaining.len(), 1);
    assert_eq!(rb.remaining[0].host_id, plan);
    assert!(
        rb.remaining[0].error.contains("500"),
        "{}",
        rb.remaining[0].error
    );
    assert!(env.list("plans").iter().any(|p| p["id"] == plan));
    // The next rollback deletes it.
    let rb = rollback_provider(&env.adapter, &env.journal, &env.vault).unwrap();
    assert!(rb.complete);
    assert!(!rb.deleted[0].already_gone);
    assert!(env.list("plans").is_empty());
}

#[test]
fn an_account_deleted_by_hand_counts_as_already_gone() {
    let env = Env::start();
    let report = env.import(
        &env.journal,
        &request(
            &["sk-good-0001aaaaaaaaaaaaaaaaaaaaaaaa"],
            relay_domain::ImportMode::Strict,
            relay_domain::AccessMode::SelfService,
        ),
    );
    let account = report.keys[0].account_id.expect("account");
    env.client().delete_account(account).unwrap();
    // The host answers a delete of the missing account with 200.
    env.client().delete_account(account).unwrap();
    let rb = rollback_provider(&env.adapter, &env.journal, &env.vault).unwrap();
    assert!(rb.complete);
    let acc = rb
        .deleted
        .iter()
        .find(|d| d.resource_type == ResourceType::Account)
        .unwrap();
    assert!(acc.already_gone);
}
