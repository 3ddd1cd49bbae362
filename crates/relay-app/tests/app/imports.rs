//! Import and re-import: host objects, the batch and its items, the access proof,
//! one preview per import, one store transaction per opened batch.

use crate::support::*;
use relay_app::SubscriberSelector;
use relay_domain::{
    AccessStatus, BatchStatus, ImportMode, ItemStatus, ProviderStatus, ResourceType,
};
use relay_store::{BatchRepository, ProbeKind};

#[test]
fn an_import_creates_the_host_objects_records_the_batch_and_proves_access() {
    let env = Env::start();
    let view = env
        .app
        .import(PROVIDER, input(&[KEY_A, KEY_B, KEY_A], ImportMode::Strict))
        .expect("import runs");

    assert_eq!(
        view.batch.status,
        BatchStatus::Succeeded,
        "{:?}",
        view.batch
    );
    // On the host: one group, channel and plan, one account per distinct key.
    assert_eq!(env.objects("groups").len(), 1);
    assert_eq!(env.objects("channels").len(), 1);
    assert_eq!(env.objects("plans").len(), 1);
    assert_eq!(env.objects("accounts").len(), 2);
    assert_eq!(env.objects("subscriptions").len(), 1);
    // Items: the two keys passed, the repeated line is skipped; masks only.
    let statuses: Vec<ItemStatus> = view.items.iter().map(|i| i.status).collect();
    assert_eq!(
        statuses,
        vec![
            ItemStatus::Passed,
            ItemStatus::Passed,
            ItemStatus::DuplicateInRequest
        ]
    );
    assert_eq!(view.batch.counts.passed, 2);
    assert!(view
        .items
        .iter()
        .all(|i| !i.mask.contains("aaaaaaaaaaaaaaaa")));
    // Every host object is journaled against the batch.
    for t in [
        ResourceType::Group,
        ResourceType::Channel,
        ResourceType::Plan,
        ResourceType::Account,
        ResourceType::Subscription,
    ] {
        assert!(
            view.resources.iter().any(|r| r.resource_type == t),
            "{t} not recorded"
        );
    }
    let accounts: Vec<i64> = env
        .objects("accounts")
        .iter()
        .map(|a| a["id"].as_i64().unwrap())
        .collect();
    for r in view
        .resources
        .iter()
        .filter(|r| r.resource_type == ResourceType::Account)
    {
        assert!(accounts.contains(&r.host_resource_id.unwrap()));
    }
    // Access is proven by a chat completion through the gateway and recorded.
    let proof = view
        .closures
        .iter()
        .find(|c| c.access_status == AccessStatus::SubscriptionReady)
        .expect("a subscription proof is recorded");
    assert!(proof.expected_model_seen);
    assert_eq!(proof.completion_status, Some(200));
    // The probes of the run are recorded against the batch.
    for kind in [ProbeKind::AccountTest, ProbeKind::GatewayChat] {
        assert!(
            view.probes
                .iter()
                .any(|p| p.kind == kind && p.batch_id.as_ref() == Some(&view.batch.id)),
            "no {kind:?} probe recorded"
        );
    }
    let report = view.batch.report.as_ref().expect("report");
    assert_eq!(report["phase"], "import");
    assert_eq!(report["access"]["status"], "subscription_ready");
    // The provider's state on the host.
    let install = env.install();
    assert_eq!(install.status, ProviderStatus::Active);
    assert_eq!(install.access_status, AccessStatus::SubscriptionReady);
    assert_eq!(install.last_batch_id.as_ref(), Some(&view.batch.id));
    // No key reached the store's text: the stored batch, report and items.
    let stored = serde_json::to_string(&view).unwrap();
    for key in [KEY_A, KEY_B] {
        assert!(!stored.contains(key), "a raw key was stored");
    }
}

#[test]
fn importing_the_same_keys_again_creates_no_duplicate_and_previews_the_host_once() {
    let env = Env::start();
    let first = env
        .app
        .import(PROVIDER, input(&[KEY_A, KEY_B], ImportMode::Strict))
        .expect("first import");
    assert_eq!(first.batch.status, BatchStatus::Succeeded);
    let before = env.host_objects();
    let get_account = env.host_calls("get_account");
    let list_channels = env.host_calls("list_channels");
    let list_plans = env.host_calls("list_plans");

    let again = env
        .app
        .import(PROVIDER, input(&[KEY_B, KEY_A], ImportMode::Strict))
        .expect("second import");

    assert_eq!(
        again.batch.status,
        BatchStatus::Succeeded,
        "{:?}",
        again.batch
    );
    assert_ne!(again.batch.id, first.batch.id);
    assert!(again
        .items
        .iter()
        .all(|i| i.status == ItemStatus::AlreadyImported && i.account_id.is_some()));
    assert_eq!(env.objects("accounts").len(), 2, "no second account");
    assert_eq!(
        accounts_of(&env.host_objects()),
        accounts_of(&before),
        "no account created, changed or deleted"
    );
    // ONE preview: each recorded account is read once (the preview's check that it
    // still exists), and the channel and plan lists are read by the preview and by
    // the ensure step right before it would write, not by a second preview.
    assert_eq!(env.host_calls("get_account") - get_account, 2);
    assert_eq!(env.host_calls("list_channels") - list_channels, 2);
    assert_eq!(env.host_calls("list_plans") - list_plans, 2);
    // The stored preview is the one the import ran from.
    let report = again.batch.report.as_ref().unwrap();
    assert_eq!(report["preview"]["counts"]["already_imported"], 2);
}

#[test]
fn an_import_opens_its_batch_running_with_the_preview_in_one_step() {
    let env = Env::with_faults(sub2api_mock::Faults {
        account_test_latency_ms: 300,
        ..sub2api_mock::Faults::default()
    });
    let started = env
        .app
        .start_import(PROVIDER, input(&[KEY_A], ImportMode::Strict))
        .expect("import starts");
    // What the caller sees at once was written by the batch's single opening
    // transaction: running, started, its items, the preview, the install's last batch.
    assert_eq!(started.batch.status, BatchStatus::Running);
    assert!(started.batch.started_at.is_some());
    assert_eq!(started.items.len(), 1);
    assert_eq!(started.batch.report.as_ref().unwrap()["phase"], "import");
    assert_eq!(
        started.batch.report.as_ref().unwrap()["preview"]["counts"]["new"],
        1
    );
    assert_eq!(
        env.install().last_batch_id.as_ref(),
        Some(&started.batch.id)
    );
    let done = env.wait_finished(started.batch.id.as_str());
    assert_eq!(done.batch.status, BatchStatus::Succeeded);
    assert_eq!(
        env.store.batches().list(&Default::default()).unwrap().len(),
        1
    );
}

#[test]
fn a_strict_failure_rolls_every_host_object_back() {
    let env = Env::start();
    let before = env.host_objects();
    let view = env
        .app
        .import(PROVIDER, input(&[KEY_A, KEY_BAD], ImportMode::Strict))
        .expect("import runs");
    assert_eq!(view.batch.status, BatchStatus::Failed, "{:?}", view.batch);
    assert_eq!(env.host_objects(), before, "the host is as before");
    let failed: Vec<_> = view
        .items
        .iter()
        .filter(|i| i.verdict == Some(relay_domain::Verdict::Failed))
        .collect();
    assert_eq!(failed.len(), 1);
    assert!(failed[0].message.as_deref().unwrap_or("").contains("401"));
    assert!(view.batch.error.is_some());
    assert_eq!(env.install().status, ProviderStatus::Failed);
}

#[test]
fn a_request_without_keys_is_refused_before_anything_is_recorded() {
    let env = Env::start();
    let e = env
        .app
        .import(
            PROVIDER,
            input(&["", "# only a comment"], ImportMode::Strict),
        )
        .unwrap_err();
    assert_eq!(e.code(), "invalid_request", "{e}");
    assert!(env
        .store
        .batches()
        .list(&Default::default())
        .unwrap()
        .is_empty());
    assert!(env.objects("accounts").is_empty());
}

/// The accounts of a host state, without the gateway's use stamp.
fn accounts_of(objects: &serde_json::Value) -> Vec<serde_json::Value> {
    let mut list = objects["accounts"].as_array().cloned().unwrap_or_default();
    for a in &mut list {
        a.as_object_mut().unwrap().remove("last_used_at");
    }
    list
}

/// Days of the host subscription of the user with this e-mail (expiry − start).
pub(crate) fn subscription_days(env: &Env, email: &str) -> i64 {
    let user = env
        .objects("users")
        .into_iter()
        .find(|u| u["email"] == email)
        .unwrap_or_else(|| panic!("user {email} on the host"));
    let sub = env
        .objects("subscriptions")
        .into_iter()
        .find(|s| s["user_id"] == user["id"])
        .unwrap_or_else(|| panic!("a subscription of {email}"));
    let at = |field: &str| {
        relay_domain::Timestamp::parse_rfc3339(sub[field].as_str().expect(field))
            .expect(field)
            .as_millis()
    };
    (at("expires_at") - at("starts_at")) / (24 * 3600 * 1000)
}

#[test]
fn each_subscriber_gets_its_own_validity_else_the_import_s() {
    let env = Env::start();
    let mut input = input(&[KEY_A], ImportMode::Strict);
    let (alice, bob) = ("alice@example.com", "bob@example.com");
    input.subscribers = vec![
        SubscriberSelector::Email(alice.into()),
        SubscriberSelector::Email(bob.into()),
    ];
    input.validity_days = Some(30);
    // The override matches the selector as the closure does (trimmed, lower case).
    input.subscriber_validity_days =
        vec![(SubscriberSelector::Email(" Alice@Example.com".into()), 7)];
    let view = env.app.import(PROVIDER, input).expect("import runs");
    assert_eq!(
        view.batch.status,
        BatchStatus::Succeeded,
        "{:?}",
        view.batch
    );
    assert_eq!(env.objects("subscriptions").len(), 3, "probe, alice, bob");
    assert_eq!(subscription_days(&env, alice), 7);
    assert_eq!(subscription_days(&env, bob), 30);
    assert_eq!(subscription_days(&env, relay_core::DEFAULT_PROBE_EMAIL), 30);
}

#[test]
fn a_subscriber_validity_of_zero_days_is_refused() {
    let env = Env::start();
    let mut input = input(&[KEY_A], ImportMode::Strict);
    input.subscribers = vec![SubscriberSelector::Email("carol@example.com".into())];
    input.subscriber_validity_days =
        vec![(SubscriberSelector::Email("carol@example.com".into()), 0)];
    let e = env.app.import(PROVIDER, input).unwrap_err();
    assert!(e.to_string().contains("validity_days"), "{e}");
    assert!(env.objects("accounts").is_empty());
}

#[test]
fn assign_subscriptions_gives_each_subscriber_its_own_validity() {
    let env = Env::start();
    let view = env
        .app
        .import(PROVIDER, input(&[KEY_A], ImportMode::Strict))
        .expect("import runs");
    assert_eq!(view.batch.status, BatchStatus::Succeeded);
    let (carol, dave) = ("carol@example.com", "dave@example.com");
    let report = env
        .app
        .assign_subscriptions(
            PROVIDER,
            &relay_app::AccessInput {
                host: "main".into(),
                pack_id: None,
                access_mode: relay_domain::AccessMode::Subscription,
                subscribers: vec![
                    SubscriberSelector::Email(carol.into()),
                    SubscriberSelector::Email(dave.into()),
                ],
                validity_days: Some(20),
                subscriber_validity_days: vec![(SubscriberSelector::Email(dave.into()), 3)],
                probe_key: None,
            },
        )
        .expect("assign runs");
    assert!(report.status.is_ready(), "{report:?}");
    assert_eq!(subscription_days(&env, carol), 20);
    assert_eq!(subscription_days(&env, dave), 3);
}
