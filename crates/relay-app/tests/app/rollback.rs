//! Rollback of a batch and of a provider.

use crate::support::*;
use relay_domain::{AccessStatus, BatchStatus, ImportMode, ItemStatus, ProviderStatus};

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
