//! Batch auto-import runs through the worker, against the mock host: matching,
//! correction, repeats, refused lines, the reuse policy (created, reused,
//! reactivated), confirmation through the warm-up window, cancel and retry, and no
//! key left at rest.

use crate::support::{Env, KEY_A, KEY_B, KEY_BAD};
use relay_app::{RunInput, RunWorkerConfig};
use relay_domain::{
    AccessMode, AccessStatus, ConfirmationStatus, HostAnswerClass, RetryScope, ReuseDecision,
    RunItemEventKind, RunItemState, RunState, Secret,
};
use relay_store::{RunItemRecord, SecretRepository, SecretSlot, SubscriberRepository};
use std::time::{Duration, Instant};
use sub2api_mock::Faults;

fn worker() -> RunWorkerConfig {
    RunWorkerConfig {
        owner: "test-worker".into(),
        lease: Duration::from_secs(30),
        confirm_window: Duration::from_secs(20),
        initial_backoff: Duration::from_millis(200),
        max_backoff: Duration::from_millis(800),
        ..RunWorkerConfig::default()
    }
}

fn input(lines: &str) -> RunInput {
    RunInput {
        host: "main".into(),
        lines: Secret::new(lines),
        pack_id: None,
        access_mode: AccessMode::Subscription,
        allow_adhoc: false,
        profile: false,
        subscribers: Vec::new(),
        validity_days: None,
        subscriber_validity_days: Vec::new(),
    }
}

/// Runs worker passes until the run ends.
fn drive(env: &Env, run_id: &str) -> relay_store::RunRecord {
    let config = worker();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        env.app.run_worker_pass(&config).expect("worker pass");
        let run = env.app.get_run(run_id).expect("run");
        if run.state.is_terminal() {
            return run;
        }
        assert!(
            Instant::now() < deadline,
            "run {run_id} did not end: {run:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn items(env: &Env, run_id: &str) -> Vec<RunItemRecord> {
    env.app.run_items(run_id, None, 500).expect("items").items
}

fn accounts(env: &Env) -> Vec<serde_json::Value> {
    env.objects("accounts")
}

#[test]
fn a_mixed_paste_ends_with_confirmed_accounts_repeats_skipped_and_unknown_urls_refused() {
    let env = Env::start();
    let lines = format!(
        "https://api.deepseek.com/v1 {KEY_A} deepseek v4\n\
         https://api.deepseek.com {KEY_A} deepseek v4\n\
         https://api.deepseek.com/v1 {KEY_B}\n\
         https://llm.unknown.example/v1 {KEY_B} some-model\n"
    );
    let run = env.app.create_run(input(&lines)).expect("run created");
    assert_eq!(run.state, RunState::Pending);
    assert_eq!(run.counts.total, 4);
    let before = items(&env, run.id.as_str());
    assert_eq!(
        before[0].canonical_model.as_deref(),
        Some("deepseek-v4-pro")
    );
    assert!(before[0]
        .model_correction
        .as_deref()
        .is_some_and(|c| c.contains("deepseek-v4-pro")));
    assert_eq!(
        before[1].state,
        RunItemState::Skipped,
        "same provider, key and family"
    );
    assert_eq!(
        before[3].state,
        RunItemState::Failed,
        "unknown URL without ad-hoc"
    );
    assert!(before[3]
        .last_error
        .as_deref()
        .unwrap()
        .contains("allow ad-hoc"));
    assert!(!before[3].has_sealed_key);
    assert!(before[0].has_sealed_key && before[2].has_sealed_key);

    let run = drive(&env, run.id.as_str());
    assert_eq!(run.state, RunState::PartiallySucceeded);
    assert_eq!(run.access_status, AccessStatus::SubscriptionReady);
    let after = items(&env, run.id.as_str());
    for i in [0, 2] {
        let item = &after[i];
        assert_eq!(item.state, RunItemState::Succeeded, "{item:?}");
        assert_eq!(item.confirmation_status, ConfirmationStatus::Confirmed);
        assert_eq!(item.reuse_decision, Some(ReuseDecision::Created));
        assert_eq!(item.access_status, AccessStatus::SubscriptionReady);
        assert!(item.account_id.is_some() && item.batch_id.is_some());
        assert!(
            !item.has_sealed_key,
            "the key is erased once the account exists"
        );
        let kinds: Vec<RunItemEventKind> = env
            .app
            .item_events(item.id.as_str())
            .unwrap()
            .iter()
            .map(|e| e.kind)
            .collect();
        for k in [
            RunItemEventKind::Created,
            RunItemEventKind::Decided,
            RunItemEventKind::AccountReady,
            RunItemEventKind::KeyErased,
            RunItemEventKind::Attempt,
            RunItemEventKind::Confirmed,
            RunItemEventKind::AccessProven,
        ] {
            assert!(kinds.contains(&k), "{k} missing in {kinds:?}");
        }
        let trail = env.app.item_events(item.id.as_str()).unwrap();
        let ready = trail
            .iter()
            .find(|e| e.kind == RunItemEventKind::AccountReady)
            .unwrap();
        assert_eq!(ready.details["account_id"], item.account_id.unwrap());
        assert_eq!(
            ready.details["batch_id"],
            item.batch_id.as_ref().unwrap().as_str(),
            "the trail names the import batch of the account"
        );
        for once in [RunItemEventKind::AccountReady, RunItemEventKind::KeyErased] {
            assert_eq!(
                kinds.iter().filter(|k| **k == once).count(),
                1,
                "{once} once in {kinds:?}"
            );
        }
    }
    assert_eq!(accounts(&env).len(), 2, "two keys, two accounts");
    // No key anywhere in the run's records.
    let dump = format!("{:?}{:?}", env.app.get_run(run.id.as_str()).unwrap(), after);
    for key in [KEY_A, KEY_B] {
        assert!(!dump.contains(key));
    }
}

#[test]
fn a_second_run_reuses_and_a_disabled_account_is_reactivated_never_duplicated() {
    let env = Env::start();
    let line = |k: &str| format!("https://api.deepseek.com {k}\n");
    let first = env.app.create_run(input(&line(KEY_A))).unwrap();
    assert_eq!(drive(&env, first.id.as_str()).state, RunState::Succeeded);
    let account = items(&env, first.id.as_str())[0].account_id.unwrap();

    let second = env.app.create_run(input(&line(KEY_A))).unwrap();
    assert_eq!(drive(&env, second.id.as_str()).state, RunState::Succeeded);
    let item = &items(&env, second.id.as_str())[0];
    assert_eq!(item.reuse_decision, Some(ReuseDecision::Reused));
    assert_eq!(item.account_id, Some(account));

    // Disabled on the host by an operator: the next run re-enables it.
    let host = env.app.resolve_host("main").unwrap();
    let adapter = env.app.adapter(&host).unwrap();
    adapter
        .update_account(
            account,
            &relay_sub2api::AccountUpdate {
                status: Some(relay_sub2api::AccountStatus::Inactive),
                ..Default::default()
            },
        )
        .unwrap();
    let third = env.app.create_run(input(&line(KEY_A))).unwrap();
    assert_eq!(drive(&env, third.id.as_str()).state, RunState::Succeeded);
    let item = &items(&env, third.id.as_str())[0];
    assert_eq!(item.reuse_decision, Some(ReuseDecision::Reactivated));
    assert_eq!(item.account_id, Some(account));
    assert_eq!(
        adapter.get_account(account).unwrap().status,
        relay_sub2api::AccountStatus::Active
    );
    assert_eq!(accounts(&env).len(), 1, "never duplicated");
}

#[test]
fn the_warm_up_window_is_ridden_out_with_retries() {
    let env = Env::with_faults(Faults {
        warmup_ms: 1_500,
        ..Faults::default()
    });
    let run = env
        .app
        .create_run(input(&format!("https://api.deepseek.com {KEY_A}\n")))
        .unwrap();
    let run = drive(&env, run.id.as_str());
    assert_eq!(run.state, RunState::Succeeded, "{run:?}");
    let item = &items(&env, run.id.as_str())[0];
    assert!(item.attempts >= 2, "confirmed after retries: {item:?}");
    let trail = env.app.item_events(item.id.as_str()).unwrap();
    assert!(trail.iter().any(|e| e.kind == RunItemEventKind::Attempt
        && e.answer_class == Some(HostAnswerClass::NoAvailableAccounts503)));
    assert!(trail
        .iter()
        .any(|e| e.kind == RunItemEventKind::RetryScheduled));
}

#[test]
fn a_refused_key_fails_with_its_cause_and_a_retry_without_the_key_says_so() {
    let env = Env::start();
    let run = env
        .app
        .create_run(input(&format!(
            "https://api.deepseek.com {KEY_A}\nhttps://api.deepseek.com {KEY_BAD}\n"
        )))
        .unwrap();
    let run = drive(&env, run.id.as_str());
    assert_eq!(run.state, RunState::PartiallySucceeded);
    let bad = &items(&env, run.id.as_str())[1];
    assert_eq!(bad.state, RunItemState::Failed);
    assert!(bad
        .last_error
        .as_deref()
        .unwrap()
        .contains("account test failed"));
    assert!(!bad.has_sealed_key, "the run ended: every key erased");
    let outcome = env
        .app
        .retry_run(run.id.as_str(), RetryScope::Failed)
        .unwrap();
    assert!(outcome.retried.is_empty());
    assert_eq!(outcome.without_key, vec![bad.id.clone()]);
    assert_eq!(
        outcome.run.state,
        RunState::PartiallySucceeded,
        "nothing went back: the run stays ended"
    );
    assert_eq!(outcome.run.finished_at, run.finished_at);
    assert_eq!(
        accounts(&env).len(),
        1,
        "the refused key's account was deleted"
    );
}

#[test]
fn cancel_mid_run_leaves_nothing_half_made_and_erases_the_keys() {
    let env = Env::start();
    let run = env
        .app
        .create_run(input(&format!(
            "https://api.deepseek.com {KEY_A}\nhttps://api.deepseek.com {KEY_B}\n"
        )))
        .unwrap();
    let cancelled = env.app.cancel_run(run.id.as_str()).unwrap();
    assert_eq!(cancelled.state, RunState::Cancelled);
    env.app.run_worker_pass(&worker()).unwrap();
    for item in items(&env, run.id.as_str()) {
        assert_eq!(item.state, RunItemState::Cancelled);
        assert!(!item.has_sealed_key);
        assert!(item.account_id.is_none());
    }
    assert!(accounts(&env).is_empty(), "nothing was made");
    assert!(
        env.app.cancel_run(run.id.as_str()).is_err(),
        "an ended run cannot be cancelled again"
    );
}

#[test]
fn a_line_that_does_not_parse_refuses_the_whole_paste_naming_the_line() {
    let env = Env::start();
    let err = env
        .app
        .create_run(input(&format!(
            "https://api.deepseek.com {KEY_A}\n{KEY_B}\n"
        )))
        .unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("lines: line 2"), "{text}");
    assert!(!text.contains(KEY_B));
    assert!(env
        .app
        .list_runs(&Default::default())
        .unwrap()
        .items
        .is_empty());
}

#[test]
fn a_profiled_chat_only_upstream_gets_its_account_forced_to_chat_completions_and_a_refused_key_no_account(
) {
    use sub2api_mock::{MockVendor, MockVendorConfig};
    let env = Env::start();
    let vendor = MockVendor::start(MockVendorConfig {
        models: vec!["vendor-chat-1".into()],
        responses: false,
        ..MockVendorConfig::default()
    })
    .unwrap();
    let bad = "sk-bad-dddddddddddddddddddddddddddddddd";
    let mut run_input = input(&format!(
        "{url} {KEY_A} vendor-chat-1\n{url} {bad} vendor-chat-1\n",
        url = vendor.base_url()
    ));
    run_input.allow_adhoc = true;
    run_input.profile = true;
    let run = env.app.create_run(run_input).unwrap();
    let run = drive(&env, run.id.as_str());
    assert_eq!(run.state, RunState::PartiallySucceeded, "{run:?}");
    let all = items(&env, run.id.as_str());
    let good = &all[0];
    assert!(good.adhoc);
    assert!(good
        .provider_id
        .as_ref()
        .unwrap()
        .0
        .starts_with("adhoc-127-0-0-1-"));
    assert_eq!(good.state, RunItemState::Succeeded, "{good:?}");
    let profile = good.profile.as_ref().expect("profiled");
    assert_eq!(profile["chat_completions_only"], true, "{profile}");
    assert!(
        !profile.to_string().contains(KEY_A),
        "no key in the profile"
    );
    let account = env
        .objects("accounts")
        .into_iter()
        .find(|a| a["id"].as_i64() == good.account_id)
        .expect("the account");
    assert_eq!(
        account["extra"]["openai_responses_mode"], "force_chat_completions",
        "{account}"
    );
    let refused = &all[1];
    assert_eq!(refused.state, RunItemState::Failed);
    assert!(refused.account_id.is_none());
    assert!(refused
        .last_error
        .as_deref()
        .unwrap()
        .contains("refused the key"));
    assert_eq!(
        env.objects("accounts").len(),
        1,
        "no account for the refused key"
    );
    assert!(vendor
        .requests()
        .iter()
        .all(|r| r.path.starts_with("/v1/") || r.path.starts_with("/anthropic/")));
}

#[test]
fn a_new_model_for_a_known_key_patches_its_account_and_an_account_in_error_is_replaced() {
    use sub2api_mock::{MockVendor, MockVendorConfig};
    let env = Env::start();
    let vendor = MockVendor::start(MockVendorConfig {
        models: vec!["m-one".into(), "m-two".into()],
        ..MockVendorConfig::default()
    })
    .unwrap();
    let adhoc = |model: &str| {
        let mut i = input(&format!("{} {KEY_A} {model}\n", vendor.base_url()));
        i.allow_adhoc = true;
        i
    };
    let first = env.app.create_run(adhoc("m-one")).unwrap();
    assert_eq!(drive(&env, first.id.as_str()).state, RunState::Succeeded);
    let account = items(&env, first.id.as_str())[0].account_id.unwrap();

    let second = env.app.create_run(adhoc("m-two")).unwrap();
    assert_eq!(drive(&env, second.id.as_str()).state, RunState::Succeeded);
    let item = &items(&env, second.id.as_str())[0];
    assert_eq!(
        item.reuse_decision,
        Some(ReuseDecision::PatchOnly),
        "{item:?}"
    );
    assert_eq!(item.account_id, Some(account));
    assert!(item.reuse_reason.as_deref().unwrap().contains("m-two"));
    let host = env.app.resolve_host("main").unwrap();
    let adapter = env.app.adapter(&host).unwrap();
    assert!(adapter
        .get_account(account)
        .unwrap()
        .model_mapping
        .contains_key("m-two"));

    // The host took the account out of service: the next run replaces it.
    adapter
        .update_account(
            account,
            &relay_sub2api::AccountUpdate {
                status: Some(relay_sub2api::AccountStatus::Error),
                ..Default::default()
            },
        )
        .unwrap();
    let third = env.app.create_run(adhoc("m-one")).unwrap();
    assert_eq!(drive(&env, third.id.as_str()).state, RunState::Succeeded);
    let item = &items(&env, third.id.as_str())[0];
    assert_eq!(
        item.reuse_decision,
        Some(ReuseDecision::Replace),
        "{item:?}"
    );
    assert_ne!(item.account_id, Some(account));
    assert_eq!(accounts(&env).len(), 1, "the old account was deleted");
}

#[test]
fn an_adhoc_upstream_at_a_link_local_or_metadata_address_is_refused() {
    let env = Env::start();
    let mut i = input(&format!(
        "https://169.254.169.254/v1 {KEY_A} some-model\nhttps://[fe80::1]/v1 {KEY_B} some-model\n"
    ));
    i.allow_adhoc = true;
    let run = env.app.create_run(i).unwrap();
    for item in items(&env, run.id.as_str()) {
        assert_eq!(item.state, RunItemState::Failed, "{item:?}");
        assert!(item
            .last_error
            .as_deref()
            .unwrap()
            .contains("ad-hoc upstream refused"));
    }
    assert!(env
        .app
        .list_packs()
        .unwrap()
        .iter()
        .all(|p| !p.pack.pack_id.0.starts_with("adhoc-")));
}

#[test]
fn a_reused_account_whose_access_closure_never_ran_gets_it_before_its_confirmation() {
    // What a kill -9 in the middle of an item's import leaves: the key's account is
    // on the host and recorded, but the import never reached its access closure, so
    // the provider's group has no managed probe subscriber key. Simulated here by
    // erasing that key after a first run.
    let env = Env::start();
    let line = format!("https://api.deepseek.com {KEY_A}\n");
    let first = env.app.create_run(input(&line)).unwrap();
    assert_eq!(drive(&env, first.id.as_str()).state, RunState::Succeeded);
    let account = items(&env, first.id.as_str())[0].account_id.unwrap();
    let host = env.app.resolve_host("main").unwrap();
    let probe = env
        .store
        .subscribers()
        .find_by_email(&host.id, relay_core::DEFAULT_PROBE_EMAIL)
        .unwrap()
        .expect("the managed probe subscriber");
    let group = env.objects("groups")[0]["id"].as_i64().unwrap();
    let slot = SecretSlot::subscriber_user_key(probe.id, &format!("user_key:{group}"));
    assert!(
        env.store.secrets().delete(&slot).unwrap(),
        "the probe key was held"
    );

    let second = env.app.create_run(input(&line)).unwrap();
    let run = drive(&env, second.id.as_str());
    let item = &items(&env, second.id.as_str())[0];
    assert_eq!(run.state, RunState::Succeeded, "{item:?}");
    assert_eq!(run.access_status, AccessStatus::SubscriptionReady);
    assert_eq!(item.reuse_decision, Some(ReuseDecision::Reused));
    assert_eq!(item.account_id, Some(account));
    assert_eq!(item.confirmation_status, ConfirmationStatus::Confirmed);
    let trail = env.app.item_events(item.id.as_str()).unwrap();
    assert!(
        trail
            .iter()
            .any(|e| e.kind == RunItemEventKind::AccessProven
                && e.decision.as_deref() == Some("access_closed")),
        "the closure is in the trail: {trail:?}"
    );
    assert!(
        env.store.secrets().get(&slot).unwrap().is_some(),
        "a probe key again"
    );
    assert_eq!(accounts(&env).len(), 1, "never duplicated");
}

#[test]
fn a_run_s_subscribers_keep_their_own_validity_through_the_worker() {
    let env = Env::start();
    let mut run_input = input(&format!("https://api.deepseek.com/v1 {KEY_A}\n"));
    let (erin, frank) = ("erin@example.com", "frank@example.com");
    run_input.subscribers = vec![
        relay_app::SubscriberSelector::Email(erin.into()),
        relay_app::SubscriberSelector::Email(frank.into()),
    ];
    run_input.validity_days = Some(15);
    run_input.subscriber_validity_days =
        vec![(relay_app::SubscriberSelector::Email(frank.into()), 4)];
    let run = env.app.create_run(run_input).expect("run created");
    assert_eq!(
        run.subscriber_validity_days,
        vec![(frank.to_string(), 4)],
        "stored with the run"
    );
    let run = drive(&env, run.id.as_str());
    assert_eq!(run.state, RunState::Succeeded, "{run:?}");
    assert_eq!(crate::imports::subscription_days(&env, erin), 15);
    assert_eq!(crate::imports::subscription_days(&env, frank), 4);
}

#[test]
fn a_run_subscriber_validity_out_of_range_is_refused() {
    let env = Env::start();
    let mut run_input = input(&format!("https://api.deepseek.com/v1 {KEY_A}\n"));
    run_input.subscribers = vec![relay_app::SubscriberSelector::Email(
        "gus@example.com".into(),
    )];
    run_input.subscriber_validity_days = vec![(
        relay_app::SubscriberSelector::Email("gus@example.com".into()),
        40_000,
    )];
    let e = env.app.create_run(run_input).unwrap_err();
    assert!(e.to_string().contains("validity_days"), "{e}");
    assert!(accounts(&env).is_empty());
}
