//! Probe results, access closure records, reconcile runs and provider installs.

use crate::common::*;
use relay_domain::{
    AccessMode, AccessStatus, BatchId, Fingerprint, HostStatus, ImportMode, ProviderEvent,
    ProviderId, ProviderStatus, ReconcileRunId, Verdict,
};
use relay_store::{
    AccessClosureRepository, BatchRepository, HostRepository, InstallRepository, NewAccessClosure,
    NewBatch, NewProbeResult, NewReconcileRun, ProbeKeySource, ProbeKind, ProbeRepository,
    ReconcileFilter, ReconcileOutcome, ReconcileRepository, ReconcileStatus, ReconcileTrigger,
    Store, StoreError, Timestamp,
};
use serde_json::json;

fn probe(
    kind: ProbeKind,
    batch: Option<&str>,
    run: Option<&str>,
    outcome: Verdict,
) -> NewProbeResult {
    NewProbeResult {
        host_id: host1(),
        pack_id: Some(pack_cn()),
        provider_id: Some(deepseek()),
        batch_id: batch.map(BatchId::new),
        reconcile_run_id: run.map(ReconcileRunId::new),
        kind,
        subject: "account:41".into(),
        outcome,
        http_status: Some(200),
        message: Some("ok".into()),
        duration_ms: Some(120),
        details: json!({"model": "deepseek-chat"}),
    }
}

fn closure(mode: AccessMode, status: AccessStatus, seen: bool) -> NewAccessClosure {
    NewAccessClosure {
        host_id: host1(),
        pack_id: pack_cn(),
        provider_id: deepseek(),
        batch_id: None,
        reconcile_run_id: None,
        mode,
        probe_key_source: match mode {
            AccessMode::Subscription => ProbeKeySource::ManagedSubscription,
            AccessMode::SelfService => ProbeKeySource::SuppliedKey,
        },
        probe_key_fingerprint: Some(Fingerprint::of("sk-probe")),
        probe_key_mask: Some(relay_domain::mask("sk-probe")),
        models_status: Some(200),
        expected_model_seen: seen,
        completion_status: Some(if seen { 200 } else { 502 }),
        completion_type: seen.then(|| "chat.completion".to_string()),
        completion_preview: seen.then(|| "pong".to_string()),
        access_status: status,
        message: None,
        details: json!({}),
    }
}

fn run(id: &str, batch: Option<&str>) -> NewReconcileRun {
    NewReconcileRun {
        id: ReconcileRunId::new(id),
        host_id: host1(),
        pack_id: pack_cn(),
        provider_id: deepseek(),
        batch_id: batch.map(BatchId::new),
        trigger: ReconcileTrigger::Manual,
    }
}

fn seeded_with_batch(store: &Store) {
    seeded(store);
    store
        .batches()
        .create(
            &NewBatch {
                id: BatchId::new("batch_1"),
                host_id: host1(),
                pack_id: pack_cn(),
                provider_id: deepseek(),
                mode: ImportMode::Partial,
                access_mode: AccessMode::Subscription,
                request: json!({}),
            },
            &[],
        )
        .unwrap();
}

#[test]
fn probes_are_recorded_and_listed_by_scope() {
    let store = crate::common::memory_store();
    seeded_with_batch(&store);
    store.reconcile_runs().start(&run("rec_1", None)).unwrap();
    let p = store
        .probes()
        .insert(&probe(
            ProbeKind::AccountTest,
            Some("batch_1"),
            None,
            Verdict::Warning,
        ))
        .unwrap();
    assert_eq!(p.kind, ProbeKind::AccountTest);
    assert_eq!(p.outcome, Verdict::Warning);
    assert_eq!(p.http_status, Some(200));
    assert_eq!(p.duration_ms, Some(120));
    assert_eq!(p.details["model"], "deepseek-chat");
    store
        .probes()
        .insert(&probe(
            ProbeKind::AccountModels,
            Some("batch_1"),
            None,
            Verdict::Passed,
        ))
        .unwrap();
    store
        .probes()
        .insert(&probe(
            ProbeKind::GatewayChat,
            None,
            Some("rec_1"),
            Verdict::Failed,
        ))
        .unwrap();
    let by_batch = store
        .probes()
        .list_by_batch(&BatchId::new("batch_1"))
        .unwrap();
    assert_eq!(
        by_batch.iter().map(|p| p.kind).collect::<Vec<_>>(),
        vec![ProbeKind::AccountTest, ProbeKind::AccountModels]
    );
    let by_run = store
        .probes()
        .list_by_reconcile_run(&ReconcileRunId::new("rec_1"))
        .unwrap();
    assert_eq!(by_run.len(), 1);
    assert_eq!(by_run[0].outcome, Verdict::Failed);
    let latest = store
        .probes()
        .latest_by_kind(&host1(), ProbeKind::AccountModels, 5)
        .unwrap();
    assert_eq!(latest.len(), 1);
    assert!(matches!(
        store.probes().insert(&probe(
            ProbeKind::Reachability,
            Some("batch_none"),
            None,
            Verdict::Passed
        )),
        Err(StoreError::ForeignKey { .. })
    ));
}

#[test]
fn latest_access_closure_wins() {
    let store = crate::common::memory_store();
    seeded(&store);
    assert!(store
        .closures()
        .latest(&host1(), &pack_cn(), &deepseek(), None)
        .unwrap()
        .is_none());
    store
        .closures()
        .insert(&closure(
            AccessMode::Subscription,
            AccessStatus::Broken,
            false,
        ))
        .unwrap();
    let ready = store
        .closures()
        .insert(&closure(
            AccessMode::Subscription,
            AccessStatus::SubscriptionReady,
            true,
        ))
        .unwrap();
    store
        .closures()
        .insert(&closure(
            AccessMode::SelfService,
            AccessStatus::Broken,
            false,
        ))
        .unwrap();

    let latest_sub = store
        .closures()
        .latest(
            &host1(),
            &pack_cn(),
            &deepseek(),
            Some(AccessMode::Subscription),
        )
        .unwrap()
        .unwrap();
    assert_eq!(latest_sub.id, ready.id);
    assert_eq!(latest_sub.access_status, AccessStatus::SubscriptionReady);
    assert!(latest_sub.expected_model_seen);
    assert_eq!(latest_sub.completion_preview.as_deref(), Some("pong"));
    assert_eq!(
        latest_sub.probe_key_source,
        ProbeKeySource::ManagedSubscription
    );
    let latest_any = store
        .closures()
        .latest(&host1(), &pack_cn(), &deepseek(), None)
        .unwrap()
        .unwrap();
    assert_eq!(latest_any.mode, AccessMode::SelfService);
    assert!(store
        .closures()
        .latest(&host1(), &pack_cn(), &ProviderId("kimi".into()), None)
        .unwrap()
        .is_none());
}

#[test]
fn reconcile_runs_start_finish_list_and_interrupt() {
    let store = crate::common::memory_store();
    seeded_with_batch(&store);
    let r = store
        .reconcile_runs()
        .start(&run("rec_1", Some("batch_1")))
        .unwrap();
    assert_eq!(r.status, ReconcileStatus::Running);
    assert!(r.finished_at.is_none());
    assert!(store
        .reconcile_runs()
        .start(&run("rec_1", None))
        .unwrap_err()
        .is_conflict());

    let outcome = ReconcileOutcome {
        status: ReconcileStatus::Completed,
        verdict: Some(ProviderStatus::Drifted),
        access_status: Some(AccessStatus::Broken),
        differences: json!([{"resource": "account", "host_id": 41, "kind": "missing"}]),
        repairs: json!([]),
        error: None,
        report: Some(json!({"counts": {"accounts": 2}})),
    };
    let done = store
        .reconcile_runs()
        .finish(&ReconcileRunId::new("rec_1"), &outcome)
        .unwrap();
    assert_eq!(done.status, ReconcileStatus::Completed);
    assert_eq!(done.verdict, Some(ProviderStatus::Drifted));
    assert_eq!(done.differences[0]["kind"], "missing");
    assert_eq!(done.report.as_ref().unwrap()["counts"]["accounts"], 2);
    assert!(done.finished_at.is_some());
    // Finishing twice is refused.
    assert!(matches!(
        store
            .reconcile_runs()
            .finish(&ReconcileRunId::new("rec_1"), &outcome),
        Err(StoreError::InvalidState { .. })
    ));

    store.reconcile_runs().start(&run("rec_2", None)).unwrap();
    store.reconcile_runs().start(&run("rec_3", None)).unwrap();
    let ids = store.reconcile_runs().interrupt_running().unwrap();
    assert_eq!(
        ids,
        vec![ReconcileRunId::new("rec_2"), ReconcileRunId::new("rec_3")]
    );
    assert_eq!(
        store
            .reconcile_runs()
            .get(&ReconcileRunId::new("rec_2"))
            .unwrap()
            .status,
        ReconcileStatus::Interrupted
    );

    let for_batch = store
        .reconcile_runs()
        .list(&ReconcileFilter {
            batch_id: Some(BatchId::new("batch_1")),
            ..ReconcileFilter::default()
        })
        .unwrap();
    assert_eq!(for_batch.len(), 1);
    assert_eq!(for_batch[0].id, ReconcileRunId::new("rec_1"));
    let all = store
        .reconcile_runs()
        .list(&ReconcileFilter {
            host_id: Some(host1()),
            provider_id: Some(deepseek()),
            ..ReconcileFilter::default()
        })
        .unwrap();
    assert_eq!(all.len(), 3);
}

#[test]
fn reconcile_runs_keep_a_host_in_use() {
    let store = crate::common::memory_store();
    seeded(&store);
    store.reconcile_runs().start(&run("rec_1", None)).unwrap();
    match store.hosts().delete(&host1()).unwrap_err() {
        StoreError::InUse { references, .. } => {
            assert_eq!(references, "1 reconcile runs")
        }
        other => panic!("expected InUse, got {other:?}"),
    }
}

#[test]
fn installs_follow_the_provider_machine() {
    let store = crate::common::memory_store();
    seeded_with_batch(&store);
    let i = store
        .installs()
        .ensure(&host1(), &pack_cn(), &deepseek())
        .unwrap();
    assert_eq!(i.status, ProviderStatus::Installed);
    assert_eq!(i.access_status, AccessStatus::NotConfigured);
    assert!(!i.disabled);
    // Idempotent.
    assert_eq!(
        store
            .installs()
            .ensure(&host1(), &pack_cn(), &deepseek())
            .unwrap()
            .created_at,
        i.created_at
    );

    // Illegal: installed → validate.
    assert!(matches!(
        store.installs().apply_event(
            &host1(),
            &pack_cn(),
            &deepseek(),
            ProviderEvent::Validate,
            None
        ),
        Err(StoreError::InvalidTransition(_))
    ));
    let active = store
        .installs()
        .apply_event(
            &host1(),
            &pack_cn(),
            &deepseek(),
            ProviderEvent::Healthy,
            None,
        )
        .unwrap();
    assert_eq!(active.status, ProviderStatus::Active);
    let degraded = store
        .installs()
        .apply_event(
            &host1(),
            &pack_cn(),
            &deepseek(),
            ProviderEvent::Degrade,
            Some("1 of 3 accounts failed"),
        )
        .unwrap();
    assert_eq!(degraded.status, ProviderStatus::Degraded);
    assert_eq!(
        degraded.status_message.as_deref(),
        Some("1 of 3 accounts failed")
    );

    store
        .installs()
        .ensure(&host1(), &pack_cn(), &ProviderId("kimi".into()))
        .unwrap();
    let disabled = store
        .installs()
        .apply_event(
            &host1(),
            &pack_cn(),
            &deepseek(),
            ProviderEvent::Disable,
            None,
        )
        .unwrap();
    assert!(disabled.disabled);
    assert_eq!(disabled.status, ProviderStatus::Disabled);
    let reconcilable: Vec<_> = store
        .installs()
        .list_reconcilable()
        .unwrap()
        .into_iter()
        .map(|i| i.provider_id.0)
        .collect();
    assert_eq!(reconcilable, ["kimi"]);
    // Disabled ignores health events.
    assert!(store
        .installs()
        .apply_event(
            &host1(),
            &pack_cn(),
            &deepseek(),
            ProviderEvent::Healthy,
            None
        )
        .is_err());
    let enabled = store
        .installs()
        .apply_event(
            &host1(),
            &pack_cn(),
            &deepseek(),
            ProviderEvent::Enable,
            None,
        )
        .unwrap();
    assert!(!enabled.disabled);
    assert_eq!(enabled.status, ProviderStatus::Installed);

    let with_access = store
        .installs()
        .set_access_status(&host1(), &pack_cn(), &deepseek(), AccessStatus::FullyReady)
        .unwrap();
    assert_eq!(with_access.access_status, AccessStatus::FullyReady);
    let with_batch = store
        .installs()
        .set_last_batch(&host1(), &pack_cn(), &deepseek(), &BatchId::new("batch_1"))
        .unwrap();
    assert_eq!(with_batch.last_batch_id, Some(BatchId::new("batch_1")));
    let at = Timestamp(1_700_000_000_000);
    let reconciled = store
        .installs()
        .mark_reconciled(&host1(), &pack_cn(), &deepseek(), at)
        .unwrap();
    assert_eq!(reconciled.last_reconcile_at, Some(at));
    assert_eq!(
        store
            .installs()
            .list(Some(&host1()), None, Some(&deepseek()))
            .unwrap()
            .len(),
        1
    );
    assert!(store
        .installs()
        .set_access_status(
            &host1(),
            &pack_cn(),
            &ProviderId("absent".into()),
            AccessStatus::Broken
        )
        .unwrap_err()
        .is_not_found());
    // Host status is independent of installs.
    assert_eq!(
        store.hosts().get(&host1()).unwrap().status,
        HostStatus::Supported
    );
}

#[test]
fn access_proofs_are_listed_by_reconcile_run() {
    let store = crate::common::memory_store();
    seeded(&store);
    store.reconcile_runs().start(&run("rec_p", None)).unwrap();
    let mut proof = closure(
        AccessMode::Subscription,
        AccessStatus::SubscriptionReady,
        true,
    );
    proof.reconcile_run_id = Some(ReconcileRunId::new("rec_p"));
    let stored = store.closures().insert(&proof).unwrap();
    store
        .closures()
        .insert(&closure(
            AccessMode::Subscription,
            AccessStatus::Broken,
            false,
        ))
        .unwrap();
    let listed = store
        .closures()
        .list_by_reconcile_run(&ReconcileRunId::new("rec_p"))
        .unwrap();
    assert_eq!(listed, vec![stored]);
    assert!(store
        .closures()
        .list_by_reconcile_run(&ReconcileRunId::new("rec_other"))
        .unwrap()
        .is_empty());
}
