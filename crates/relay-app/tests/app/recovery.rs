//! Start-up recovery and resume: a batch a crash left `running` becomes
//! `interrupted` and can be resumed; one that never started becomes `failed`.

use crate::support::*;
use relay_app::App;
use relay_domain::{AccessMode, BatchId, BatchStatus, ImportMode, ItemStatus, Secret};
use relay_store::{BatchRepository, InstallRepository, NewBatch};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use sub2api_mock::Faults;

#[test]
fn a_batch_left_running_is_interrupted_at_start_up_and_resumes_without_duplicates() {
    let env = Env::with_faults(Faults {
        account_test_latency_ms: 1_500,
        ..Faults::default()
    });
    let mut request = input(&[KEY_A, KEY_B], ImportMode::Strict);
    request.concurrency = Some(1);
    let started = env
        .app
        .start_import(PROVIDER, request)
        .expect("import starts");
    let id = started.batch.id.clone();
    let deadline = Instant::now() + Duration::from_secs(30);
    while env.objects("accounts").is_empty() {
        assert!(Instant::now() < deadline, "no account was created");
        std::thread::sleep(Duration::from_millis(20));
    }

    // A new process of the same server (same worker id) over the same database
    // frees its predecessor's leases and finds the batch running: interrupted.
    let restarted = Arc::new(App::new(env.store.clone(), config()));
    let recovery = restarted.recover_at_startup().expect("recovery");
    assert_eq!(recovery.interrupted_batches, vec![id.clone()]);
    assert!(recovery.failed_unstarted_batches.is_empty());
    assert_eq!(
        env.store.batches().get(&id).unwrap().status,
        BatchStatus::Interrupted
    );
    // Let the old worker run out: its lease was taken over, so its next journal
    // write is refused and it leaves the batch alone (no report, no status).
    let deadline = Instant::now() + Duration::from_secs(60);
    while !env
        .app
        .metrics()
        .render(&[])
        .contains("outcome=\"taken_over\"")
    {
        assert!(Instant::now() < deadline, "the old worker did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
    let report = env.store.batches().get(&id).unwrap().report.unwrap();
    assert!(
        report.get("outcome").is_none() && report.get("error").is_none(),
        "the fenced worker wrote its report: {report}"
    );
    assert_eq!(
        env.store.batches().get(&id).unwrap().status,
        BatchStatus::Interrupted
    );
    env.mock.set_faults(Faults::default());

    // Only an interrupted batch resumes; the resumed import finishes the batch.
    let resumed = restarted
        .resume_batch(id.as_str(), Some(Secret::new(format!("{KEY_A}\n{KEY_B}"))))
        .expect("resume runs");
    assert_eq!(
        resumed.batch.status,
        BatchStatus::Succeeded,
        "{:?}",
        resumed.batch
    );
    assert!(resumed.items.iter().all(|i| i.status == ItemStatus::Passed));
    assert_eq!(
        env.objects("accounts").len(),
        2,
        "no key got a second account"
    );
    let e = restarted.resume_batch(id.as_str(), None).unwrap_err();
    assert_eq!(e.code(), "batch_not_resumable", "{e}");
}

#[test]
fn a_batch_that_never_started_fails_at_start_up() {
    let env = Env::start();
    let host = env.app.resolve_host("main").unwrap();
    // An older version opened batches step by step (the install first) and could
    // stop in between.
    env.store
        .installs()
        .ensure(
            &host.id,
            &relay_domain::PackId("openai-cn-pack".into()),
            &relay_domain::ProviderId(PROVIDER.into()),
        )
        .unwrap();
    let new = |id: &str| NewBatch {
        id: BatchId::new(id),
        host_id: host.id.clone(),
        pack_id: relay_domain::PackId("openai-cn-pack".into()),
        provider_id: relay_domain::ProviderId(PROVIDER.into()),
        mode: ImportMode::Strict,
        access_mode: AccessMode::Subscription,
        request: json!({}),
    };
    env.store
        .batches()
        .create(&new("batch_pending"), &[])
        .unwrap();
    env.store
        .batches()
        .create(&new("batch_previewed"), &[])
        .unwrap();
    env.store
        .batches()
        .transition(
            &BatchId::new("batch_previewed"),
            relay_domain::BatchEvent::Preview,
        )
        .unwrap();

    let recovery = env.app.recover_at_startup().expect("recovery");
    let mut failed = recovery.failed_unstarted_batches.clone();
    failed.sort();
    assert_eq!(
        failed,
        vec![
            BatchId::new("batch_pending"),
            BatchId::new("batch_previewed")
        ]
    );
    assert!(recovery.interrupted_batches.is_empty());
    for id in ["batch_pending", "batch_previewed"] {
        let b = env.store.batches().get(&BatchId::new(id)).unwrap();
        assert_eq!(b.status, BatchStatus::Failed);
        assert!(b.error.unwrap().contains("nothing was written to the host"));
    }
    // A failed batch that wrote nothing rolls back to nothing.
    let rolled = env.app.rollback_batch("batch_pending").expect("rollback");
    assert_eq!(rolled.batch.status, BatchStatus::RolledBack);
}
