//! Rollback of a batch and of a provider.

use crate::support::*;
use relay_domain::{AccessStatus, BatchStatus, ImportMode, ItemStatus, ProviderStatus};
use sub2api_mock::Faults;

#[test]
fn a_batch_rollback_deletes_what_the_import_created() {
    let env = Env::start();
    let before = env.host_objects();
    let view = env
        .app
        .import(PROVIDER, input(&[KEY_A, KEY_B], ImportMode::Strict))
        .expect("import runs");
    assert_eq!(view.batch.status, BatchStatus::Succeeded);
    assert_eq!(env.objects("accounts").len(), 2);

    let rolled = env
        .app
        .rollback_batch(view.batch.id.as_str())
        .expect("rollback runs");
    assert_eq!(rolled.batch.status, BatchStatus::RolledBack);
    let report = rolled.rollback.as_ref().expect("the rollback report");
    assert!(report.complete);
    assert_eq!(
        env.host_objects(),
        before,
        "the host is as before the import"
    );
    assert!(rolled
        .items
        .iter()
        .all(|i| i.status == ItemStatus::RolledBack));
    let install = env.install();
    assert_eq!(install.status, ProviderStatus::Installed);
    assert_eq!(install.access_status, AccessStatus::NotConfigured);

    // Nothing is left to roll back.
    let e = env.app.rollback_batch(view.batch.id.as_str()).unwrap_err();
    assert_eq!(e.code(), "batch_not_rollbackable", "{e}");
    let e = env
        .app
        .rollback_provider(PROVIDER, "main", None)
        .unwrap_err();
    assert_eq!(e.code(), "nothing_recorded", "{e}");
}

#[test]
fn a_provider_rollback_deletes_every_batch_s_objects() {
    let env = Env::start();
    let before = env.host_objects();
    let first = env
        .app
        .import(PROVIDER, input(&[KEY_A], ImportMode::Strict))
        .expect("first import");
    let second = env
        .app
        .import(PROVIDER, input(&[KEY_A, KEY_B], ImportMode::Strict))
        .expect("second import");
    assert_eq!(second.batch.status, BatchStatus::Succeeded);
    assert_eq!(env.objects("accounts").len(), 2);

    let report = env
        .app
        .rollback_provider(PROVIDER, "main", None)
        .expect("provider rollback");
    assert!(report.complete);
    assert_eq!(env.host_objects(), before);
    for id in [&first.batch.id, &second.batch.id] {
        let b = env.app.batch_view(id.as_str()).unwrap();
        assert_eq!(b.batch.status, BatchStatus::RolledBack, "{id}");
    }
    assert_eq!(env.install().status, ProviderStatus::Installed);
}

fn ready_import(env: &Env, keys: &[&str]) -> relay_app::BatchView {
    let view = env
        .app
        .import(PROVIDER, input(keys, ImportMode::Strict))
        .expect("import runs");
    assert_eq!(view.batch.status, BatchStatus::Succeeded);
    assert_eq!(env.install().access_status, AccessStatus::SubscriptionReady);
    view
}

#[test]
fn a_batch_rollback_that_fails_part_way_leaves_access_broken() {
    let env = Env::start();
    let view = ready_import(&env, &[KEY_A, KEY_B]);
    // The rollback's first delete (the subscription) answers 500: it stays, the rest goes.
    env.mock.set_faults(Faults {
        fail_nth_admin_call: Some(1),
        ..Faults::default()
    });
    let rolled = env
        .app
        .rollback_batch(view.batch.id.as_str())
        .expect("rollback runs");
    let report = rolled.rollback.as_ref().expect("the rollback report");
    assert!(!report.complete, "{report:#?}");
    assert!(!report.remaining.is_empty());
    assert_eq!(rolled.batch.status, BatchStatus::Failed);
    let install = env.install();
    assert_eq!(install.access_status, AccessStatus::Broken);
    assert_eq!(install.status, ProviderStatus::Drifted);
    let message = install.status_message.expect("a message");
    assert!(message.starts_with("access broken:"), "{message}");
    assert!(message.contains("left"), "{message}");
    for r in &report.remaining {
        assert!(
            message.contains(&format!("{} {}", r.resource_type, r.host_id)),
            "{message}"
        );
    }

    // A second rollback finishes: nothing is left and nothing is configured.
    let again = env
        .app
        .rollback_batch(view.batch.id.as_str())
        .expect("second rollback runs");
    assert_eq!(again.batch.status, BatchStatus::RolledBack);
    assert_eq!(env.install().access_status, AccessStatus::NotConfigured);
}

#[test]
fn a_provider_rollback_that_fails_part_way_leaves_access_broken() {
    let env = Env::start();
    ready_import(&env, &[KEY_A]);
    env.mock.set_faults(Faults {
        fail_nth_admin_call: Some(1),
        ..Faults::default()
    });
    let report = env
        .app
        .rollback_provider(PROVIDER, "main", None)
        .expect("provider rollback runs");
    assert!(!report.complete, "{report:#?}");
    let install = env.install();
    assert_eq!(install.access_status, AccessStatus::Broken);
    let message = install.status_message.expect("a message");
    assert!(message.contains("did not finish"), "{message}");
    assert!(
        message.contains(&report.remaining[0].host_id.to_string()),
        "{message}"
    );
}

#[test]
fn a_finished_rollback_of_one_batch_among_others_leaves_access_to_be_proven_again() {
    let env = Env::start();
    ready_import(&env, &[KEY_A]);
    let second = ready_import(&env, &[KEY_B]);
    let rolled = env
        .app
        .rollback_batch(second.batch.id.as_str())
        .expect("rollback runs");
    assert_eq!(rolled.batch.status, BatchStatus::RolledBack);
    assert_eq!(env.objects("accounts").len(), 1);
    let install = env.install();
    assert_eq!(install.access_status, AccessStatus::Broken);
    let message = install.status_message.expect("a message");
    assert!(message.contains("removed account"), "{message}");
}
