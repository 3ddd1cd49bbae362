//! Per-key health over the mock host: a key whose account fails three reconciles in
//! the window is taken out of scheduling and comes back after a passing test; a key a
//! person took out of scheduling stays out; the key views and metrics follow.

use crate::support::*;
use relay_app::ReconcileOptions;
use relay_domain::{ImportMode, KeyFailureCause, KeyHealthAction, KeyHealthState, Secret};
use relay_sub2api::{
    AccountCredentials, AccountUpdate, AdminAuth, HostAdapter, HostConfig, Sub2ApiClient,
};
use serde_json::Value;

fn admin(env: &Env) -> Sub2ApiClient {
    Sub2ApiClient::new(HostConfig::new(
        env.mock.base_url(),
        AdminAuth::ApiKey(Secret::new(env.mock.admin_api_key())),
    ))
    .expect("client")
}

/// Replaces the account's upstream key by hand, as an operator would on the host.
fn swap_key(env: &Env, id: i64, key: &str) {
    let client = admin(env);
    let a = client.get_account(id).expect("account");
    client
        .update_account(
            id,
            &AccountUpdate {
                credentials: Some(AccountCredentials {
                    api_key: Some(Secret::new(key)),
                    base_url: a.base_url.clone(),
                    model_mapping: a.model_mapping.clone(),
                    other: Default::default(),
                }),
                ..AccountUpdate::default()
            },
        )
        .expect("key swapped");
}

fn reconcile(env: &Env) -> Value {
    let run = env
        .app
        .reconcile_provider(PROVIDER, "main", None, &ReconcileOptions::default())
        .expect("reconcile runs");
    run.report.expect("a completed run has its report")
}

fn imported_account(env: &Env) -> i64 {
    let view = env
        .app
        .import(PROVIDER, input(&[KEY_A], ImportMode::Strict))
        .expect("import runs");
    assert_eq!(view.batch.status, relay_domain::BatchStatus::Succeeded);
    env.objects("accounts")[0]["id"]
        .as_i64()
        .expect("account id")
}

fn host_account(env: &Env, id: i64) -> Value {
    env.objects("accounts")
        .into_iter()
        .find(|a| a["id"].as_i64() == Some(id))
        .expect("the account is on the host")
}

#[test]
fn a_key_failing_three_times_is_disabled_and_comes_back_after_a_passing_test() {
    let env = Env::start();
    let id = imported_account(&env);
    swap_key(&env, id, KEY_BAD);

    for run in 1..=2 {
        let report = reconcile(&env);
        assert_eq!(report["keys"][0]["account_id"], id);
        assert_eq!(report["keys"][0]["state"], "failing", "run {run}: {report}");
        assert_eq!(report["keys"][0]["cause"], "auth");
        assert_eq!(report["keys"][0]["failures_in_window"], run);
        assert_eq!(report["counts"]["keys_disabled"], 0);
    }
    let report = reconcile(&env);
    assert_eq!(
        report["keys"][0]["state"], "disabled_by_manager",
        "{report}"
    );
    assert_eq!(report["keys"][0]["action"], "disabled");
    assert_eq!(report["counts"]["keys_disabled"], 1);
    assert!(report["notes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n.as_str().unwrap().contains("taken out of scheduling")));
    assert_eq!(host_account(&env, id)["schedulable"], false);

    let keys = env.app.provider_keys(PROVIDER, "main", None).expect("keys");
    assert_eq!(keys.policy.max_failures, 3);
    assert_eq!(keys.keys.len(), 1);
    let k = &keys.keys[0];
    assert_eq!(k.state, KeyHealthState::DisabledByManager);
    assert_eq!(k.disabled_cause, Some(KeyFailureCause::Auth));
    assert_eq!(k.failures_in_window, 3);
    assert!(k.key_mask.as_deref().is_some_and(|m| m.contains('…')));
    let text = env.app.render_metrics().expect("metrics");
    assert!(text.contains("state=\"disabled_by_manager\"} 1"), "{text}");

    // Still failing: it stays disabled and nothing flips it back.
    let report = reconcile(&env);
    assert_eq!(report["keys"][0]["state"], "disabled_by_manager");
    assert_eq!(report["keys"][0]["action"], Value::Null);

    // The operator fixes the key: the next run tests it, it passes, and it is back.
    swap_key(&env, id, KEY_A);
    let report = reconcile(&env);
    assert_eq!(report["keys"][0]["state"], "healthy", "{report}");
    assert_eq!(report["keys"][0]["action"], "re_enabled");
    assert_eq!(report["counts"]["keys_re_enabled"], 1);
    assert_eq!(report["accounts"][0]["outcome"], "passed");
    let acct = host_account(&env, id);
    assert_eq!(acct["schedulable"], true);
    assert_eq!(acct["status"], "active");

    let detail = env
        .app
        .provider_key(PROVIDER, "main", None, id)
        .expect("the key");
    assert_eq!(detail.key.state, KeyHealthState::Healthy);
    let actions: Vec<KeyHealthAction> = detail.events.iter().map(|e| e.action).collect();
    assert_eq!(
        actions,
        vec![KeyHealthAction::Disabled, KeyHealthAction::ReEnabled]
    );
    assert_eq!(detail.failures.len(), 4);
    assert!(detail.last_pass_at.is_some());
    // No key in any stored or answered text.
    let doc = serde_json::to_string(&detail).unwrap();
    assert!(!doc.contains(KEY_BAD) && !doc.contains(KEY_A), "{doc}");
}

#[test]
fn a_key_a_person_took_out_of_scheduling_is_never_put_back() {
    let env = Env::start();
    let id = imported_account(&env);
    admin(&env)
        .set_account_schedulable(id, false)
        .expect("taken out by hand");
    let before = env.host_calls("set_account_schedulable");
    for _ in 0..2 {
        let report = reconcile(&env);
        assert_eq!(
            report["keys"][0]["state"], "disabled_by_operator",
            "{report}"
        );
        assert_eq!(host_account(&env, id)["schedulable"], false);
    }
    assert_eq!(
        env.host_calls("set_account_schedulable"),
        before,
        "the manager never touched the key's scheduling"
    );
    let detail = env
        .app
        .provider_key(PROVIDER, "main", None, id)
        .expect("the key");
    assert_eq!(detail.key.state, KeyHealthState::DisabledByOperator);
    assert_eq!(detail.events.len(), 1);
    assert_eq!(detail.events[0].action, KeyHealthAction::OperatorDisabled);

    let e = env
        .app
        .provider_key(PROVIDER, "main", None, id + 1000)
        .unwrap_err();
    assert_eq!(e.code(), "key_not_found");
}
