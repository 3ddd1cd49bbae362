//! Several servers on one database: the per-provider lock is a database lease, a
//! live server's work is never taken, and the work of a server whose lease lapsed is
//! interrupted by another, which resumes it without a duplicate account while the
//! first is fenced off.

use crate::support::*;
use relay_app::{App, AppConfig};
use relay_domain::{BatchStatus, ImportMode, ItemStatus, Secret};
use relay_store::{BatchRepository, LeaseRepository};
use std::sync::Arc;
use std::time::{Duration, Instant};
use sub2api_mock::Faults;

fn server(env: &Env, worker_id: &str) -> Arc<App> {
    Arc::new(App::new(
        env.store.clone(),
        AppConfig {
            worker_id: worker_id.into(),
            ..config()
        },
    ))
}

fn wait_accounts(env: &Env, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while env.objects("accounts").len() < n {
        assert!(Instant::now() < deadline, "{n} account(s) were not created");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_provider_another_server_works_on_is_busy_here_and_its_batch_is_left_alone() {
    let env = Env::with_faults(Faults {
        account_test_latency_ms: 1_000,
        ..Faults::default()
    });
    let a = server(&env, "server-a");
    let b = server(&env, "server-b");
    let running = a
        .start_import(PROVIDER, input(&[KEY_A], ImportMode::Strict))
        .expect("import starts on A");
    let id = running.batch.id.clone();

    let e = b
        .import(PROVIDER, input(&[KEY_B], ImportMode::Strict))
        .unwrap_err();
    assert_eq!(e.code(), "provider_busy", "{e}");
    assert!(e.to_string().contains("on server server-a"), "{e}");
    // B's sweep leaves A's live work alone.
    let swept = b.sweep_orphaned_work().unwrap();
    assert!(swept.interrupted_batches.is_empty(), "{swept:?}");
    assert_eq!(
        env.store.batches().get(&id).unwrap().status,
        BatchStatus::Running
    );

    let done = env.wait_finished(id.as_str());
    assert_eq!(done.batch.status, BatchStatus::Succeeded);
    // A released the provider's lease when it finished.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match b.import(PROVIDER, input(&[KEY_B], ImportMode::Strict)) {
            Err(e) if e.code() == "provider_busy" => {
                assert!(Instant::now() < deadline, "the lease was never released");
                std::thread::sleep(Duration::from_millis(20));
            }
            other => {
                assert_eq!(other.unwrap().batch.status, BatchStatus::Succeeded);
                break;
            }
        }
    }
    assert_eq!(env.objects("accounts").len(), 2);
}

#[test]
fn work_whose_lease_lapsed_is_interrupted_elsewhere_resumed_there_and_the_old_holder_is_fenced() {
    let env = Env::with_faults(Faults {
        account_test_latency_ms: 3_000,
        ..Faults::default()
    });
    let a = server(&env, "server-a");
    let b = server(&env, "server-b");
    let mut request = input(&[KEY_A, KEY_B], ImportMode::Strict);
    request.concurrency = Some(1);
    let id = a
        .start_import(PROVIDER, request)
        .expect("import starts on A")
        .batch
        .id;
    wait_accounts(&env, 1);

    // A stalls past its lease (as a server killed with -9 stops renewing it).
    assert_eq!(env.store.leases().release_owner("server-a").unwrap(), 1);
    let swept = b.sweep_orphaned_work().unwrap();
    assert_eq!(swept.interrupted_batches, vec![id.clone()]);
    assert_eq!(
        env.store.batches().get(&id).unwrap().status,
        BatchStatus::Interrupted
    );
    // A learns it at its next journal write: it stops and records nothing more.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !a.metrics().render(&[]).contains("outcome=\"taken_over\"") {
        assert!(Instant::now() < deadline, "A was not fenced off");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        env.store.batches().get(&id).unwrap().status,
        BatchStatus::Interrupted,
        "the fenced server changed the batch"
    );
    env.mock.set_faults(Faults::default());

    // B resumes the batch: every key ends with exactly one account.
    let resumed = b
        .resume_batch(id.as_str(), Some(Secret::new(format!("{KEY_A}\n{KEY_B}"))))
        .expect("resume runs on B");
    assert_eq!(resumed.batch.status, BatchStatus::Succeeded);
    assert!(resumed.items.iter().all(|i| i.status == ItemStatus::Passed));
    assert_eq!(
        env.objects("accounts").len(),
        2,
        "no key got a second account"
    );
}

#[test]
fn a_due_scheduled_reconcile_runs_once_across_servers() {
    use relay_app::ReconcileOptions;
    use relay_store::{InstallRepository, ReconcileFilter, ReconcileRepository, Timestamp};

    let env = Env::start();
    let a = server(&env, "server-a");
    let b = server(&env, "server-b");
    let done = a
        .import(PROVIDER, input(&[KEY_A], ImportMode::Strict))
        .unwrap();
    assert_eq!(done.batch.status, BatchStatus::Succeeded);
    let install = env
        .store
        .installs()
        .list_reconcilable()
        .unwrap()
        .into_iter()
        .find(|i| i.provider_id.0 == PROVIDER)
        .expect("the provider is installed");
    // Both schedulers found the provider due, having seen the same last reconcile.
    let seen = install.last_reconcile_at.unwrap_or(Timestamp(0));
    let scheduled = ReconcileOptions {
        scheduled: true,
        last_reconcile_seen: Some(seen),
        ..ReconcileOptions::default()
    };
    a.reconcile_provider(PROVIDER, "main", None, &scheduled)
        .expect("the first server reconciles");
    let e = b
        .reconcile_provider(PROVIDER, "main", None, &scheduled)
        .unwrap_err();
    assert_eq!(e.code(), "already_reconciled", "{e}");
    let runs = env
        .store
        .reconcile_runs()
        .list(&ReconcileFilter::default())
        .unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
}

#[test]
fn a_batch_import_run_is_ended_by_the_server_holding_its_lease_only() {
    use relay_app::{RunInput, RunWorkerConfig};
    use relay_domain::AccessMode;

    let env = Env::start();
    let a = server(&env, "server-a");
    let run = a
        .create_run(RunInput {
            host: "main".into(),
            lines: Secret::new(format!("https://api.deepseek.com/v1 {KEY_A}")),
            pack_id: None,
            access_mode: AccessMode::Subscription,
            allow_adhoc: false,
            profile: false,
            subscribers: Vec::new(),
            validity_days: None,
            subscriber_validity_days: Vec::new(),
        })
        .expect("run created");
    let id = run.id.as_str().to_string();
    // Server b is ending this run (it holds the run's lease).
    let lease = match env
        .store
        .leases()
        .acquire(&format!("run/{id}"), "server-b", Duration::from_secs(60))
        .unwrap()
    {
        relay_store::Acquired::Taken(l) => l,
        held => panic!("{held:?}"),
    };
    let worker = RunWorkerConfig {
        owner: "server-a".into(),
        confirm_window: Duration::from_secs(20),
        initial_backoff: Duration::from_millis(200),
        max_backoff: Duration::from_millis(800),
        ..RunWorkerConfig::default()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        a.run_worker_pass(&worker).unwrap();
        let items = a.run_items(&id, None, 10).unwrap().items;
        if items.iter().all(|i| i.state.is_finished()) {
            break;
        }
        assert!(Instant::now() < deadline, "the item did not finish");
        std::thread::sleep(Duration::from_millis(50));
    }
    // A worked the item but leaves the end of the run to b.
    for _ in 0..3 {
        a.run_worker_pass(&worker).unwrap();
    }
    let still = a.get_run(&id).unwrap();
    assert!(!still.state.is_terminal(), "{still:?}");
    // Once b's lease is gone (b ended, or died and it lapsed), a ends the run.
    env.store.leases().release(&lease).unwrap();
    a.run_worker_pass(&worker).unwrap();
    let ended = a.get_run(&id).unwrap();
    assert!(ended.state.is_terminal(), "{ended:?}");
}
