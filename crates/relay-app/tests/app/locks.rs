//! The per-provider lock: one import, resume, rollback or reconcile of a provider
//! on a host at a time.

use crate::support::*;
use relay_domain::{BatchStatus, ImportMode};
use relay_store::BatchRepository;
use sub2api_mock::Faults;

#[test]
fn a_second_import_of_a_busy_provider_is_refused_and_records_nothing() {
    let env = Env::with_faults(Faults {
        account_test_latency_ms: 1_000,
        ..Faults::default()
    });
    let running = env
        .app
        .start_import(PROVIDER, input(&[KEY_A], ImportMode::Strict))
        .expect("import starts");
    assert_eq!(running.batch.status, BatchStatus::Running);

    let e = env
        .app
        .import(PROVIDER, input(&[KEY_B], ImportMode::Strict))
        .unwrap_err();
    assert_eq!(e.code(), "provider_busy", "{e}");
    let e = env
        .app
        .rollback_batch(running.batch.id.as_str())
        .unwrap_err();
    assert_eq!(e.code(), "provider_busy", "{e}");
    assert_eq!(
        env.store.batches().list(&Default::default()).unwrap().len(),
        1,
        "the refused import opened no batch"
    );

    // Once the first import is done, the provider is free again.
    let done = env.wait_finished(running.batch.id.as_str());
    assert_eq!(done.batch.status, BatchStatus::Succeeded);
    env.mock.set_faults(Faults::default());
    let next = loop {
        match env
            .app
            .import(PROVIDER, input(&[KEY_B], ImportMode::Strict))
        {
            // The worker releases the lock right after it records the end.
            Err(e) if e.code() == "provider_busy" => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            other => break other.expect("import after the lock is released"),
        }
    };
    assert_eq!(next.batch.status, BatchStatus::Succeeded);
    assert_eq!(env.objects("accounts").len(), 2);
}
