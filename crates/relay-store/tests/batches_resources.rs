//! Import batches, items, the managed resource journal, and host-in-use refusals.

use crate::common::*;
use relay_domain::{
    AccessMode, BatchEvent, BatchId, BatchStatus, Fingerprint, HostId, ImportMode, ItemStatus,
    KeyPlan, PackId, ProviderId, ResourceState, ResourceType, Secret, Verdict,
};
use relay_store::{
    BatchFilter, BatchRepository, HostRepository, InstallRepository, ItemUpdate, NewBatch,
    NewBatchItem, NewProbeResult, NewResource, ProbeKind, ProbeRepository, ResourceRepository,
    SecretRepository, SecretSlot, Store, StoreError,
};
use serde_json::json;

fn new_batch(id: &str) -> NewBatch {
    NewBatch {
        id: BatchId::new(id),
        host_id: host1(),
        pack_id: pack_cn(),
        provider_id: deepseek(),
        mode: ImportMode::Strict,
        access_mode: AccessMode::Subscription,
        request: json!({"keys": 2}),
    }
}

fn item(seq: u32, key: &str, plan: KeyPlan) -> NewBatchItem {
    NewBatchItem {
        seq,
        fingerprint: Fingerprint::of(key),
        mask: relay_domain::mask(key),
        plan,
        status: ItemStatus::from(plan),
        account_id: None,
    }
}

fn account(key: &str, batch: Option<&str>) -> NewResource {
    let fp = Fingerprint::of(key);
    NewResource {
        host_id: host1(),
        pack_id: pack_cn(),
        provider_id: deepseek(),
        batch_id: batch.map(BatchId::new),
        resource_type: ResourceType::Account,
        logical_key: relay_domain::naming::account_name("deepseek", &fp),
        fingerprint: Some(fp),
        details: json!({}),
    }
}

fn group(batch: &str) -> NewResource {
    NewResource {
        host_id: host1(),
        pack_id: pack_cn(),
        provider_id: deepseek(),
        batch_id: Some(BatchId::new(batch)),
        resource_type: ResourceType::Group,
        logical_key: "crm-cn-deepseek-sub".into(),
        fingerprint: None,
        details: json!({}),
    }
}

#[test]
fn batch_lifecycle_follows_the_state_machine() {
    let store = crate::common::memory_store();
    seeded(&store);
    let b = store
        .batches()
        .create(
            &new_batch("batch_1"),
            &[
                item(1, "sk-key-one-aaaaaaaa", KeyPlan::New),
                item(2, "sk-key-two-bbbbbbbb", KeyPlan::New),
                item(3, "sk-key-one-aaaaaaaa", KeyPlan::DuplicateInRequest),
            ],
        )
        .unwrap();
    assert_eq!(b.status, BatchStatus::Pending);
    assert_eq!(b.counts.total, 3);
    assert_eq!(b.counts.skipped, 1);
    assert!(b.started_at.is_none());

    // Illegal: start before preview; nothing changes.
    match store
        .batches()
        .transition(&b.id, BatchEvent::Start)
        .unwrap_err()
    {
        StoreError::InvalidTransition(e) => assert_eq!(e.from, "pending"),
        other => panic!("expected InvalidTransition, got {other:?}"),
    }
    assert_eq!(
        store.batches().get(&b.id).unwrap().status,
        BatchStatus::Pending
    );

    store
        .batches()
        .transition(&b.id, BatchEvent::Preview)
        .unwrap();
    let running = store
        .batches()
        .transition(&b.id, BatchEvent::Start)
        .unwrap();
    assert_eq!(running.status, BatchStatus::Running);
    assert!(running.started_at.is_some());
    assert!(running.finished_at.is_none());

    let it = store
        .batches()
        .update_item(
            &b.id,
            &Fingerprint::of("sk-key-one-aaaaaaaa"),
            &ItemUpdate {
                status: Some(ItemStatus::Passed),
                account_id: Some(41),
                verdict: Some(Verdict::Passed),
                message: Some("ok".into()),
                details: None,
            },
        )
        .unwrap();
    assert_eq!(it.status, ItemStatus::Passed);
    assert_eq!(it.account_id, Some(41));
    assert_eq!(it.plan, KeyPlan::New);
    store
        .batches()
        .update_item(
            &b.id,
            &Fingerprint::of("sk-key-two-bbbbbbbb"),
            &ItemUpdate {
                status: Some(ItemStatus::Warning),
                verdict: Some(Verdict::Warning),
                ..ItemUpdate::default()
            },
        )
        .unwrap();
    let counts = store.batches().get(&b.id).unwrap().counts;
    assert_eq!(
        (counts.passed, counts.warning, counts.failed, counts.skipped),
        (1, 1, 0, 1)
    );

    let done = store
        .batches()
        .transition(&b.id, BatchEvent::Succeed)
        .unwrap();
    assert_eq!(done.status, BatchStatus::Succeeded);
    assert!(done.finished_at.is_some());
    assert!(store
        .batches()
        .transition(&b.id, BatchEvent::Start)
        .is_err());
    let with_report = store
        .batches()
        .set_report(&b.id, &json!({"accounts": [41]}), None)
        .unwrap();
    assert_eq!(with_report.report.unwrap()["accounts"][0], 41);

    store
        .batches()
        .transition(&b.id, BatchEvent::StartRollback)
        .unwrap();
    let rolled = store
        .batches()
        .transition(&b.id, BatchEvent::RollbackDone)
        .unwrap();
    assert_eq!(rolled.status, BatchStatus::RolledBack);
    assert!(store
        .batches()
        .transition(&b.id, BatchEvent::StartRollback)
        .is_err());

    let items = store.batches().items(&b.id).unwrap();
    assert_eq!(
        items.iter().map(|i| i.seq).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(items[2].plan, KeyPlan::DuplicateInRequest);

    let earlier = store
        .batches()
        .items_by_fingerprint(
            &host1(),
            &deepseek(),
            &Fingerprint::of("sk-key-two-bbbbbbbb"),
        )
        .unwrap();
    assert_eq!(earlier.len(), 1);
    assert_eq!(earlier[0].status, ItemStatus::Warning);
}

#[test]
fn one_item_per_key_and_batch() {
    let store = crate::common::memory_store();
    seeded(&store);
    let err = store
        .batches()
        .create(
            &new_batch("batch_dup"),
            &[
                item(1, "sk-same-key-1234567", KeyPlan::New),
                item(2, "sk-same-key-1234567", KeyPlan::New),
            ],
        )
        .unwrap_err();
    match err {
        StoreError::Conflict { what } => {
            assert!(what.contains("import_batch_items"), "{what}")
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    // Atomic: the batch itself was not kept.
    assert!(store
        .batches()
        .get(&BatchId::new("batch_dup"))
        .unwrap_err()
        .is_not_found());

    store
        .batches()
        .create(
            &new_batch("batch_ok"),
            &[item(1, "sk-same-key-1234567", KeyPlan::New)],
        )
        .unwrap();
    assert!(store
        .batches()
        .add_items(
            &BatchId::new("batch_ok"),
            &[item(2, "sk-same-key-1234567", KeyPlan::AlreadyImported)]
        )
        .unwrap_err()
        .is_conflict());
    // Same seq twice is also refused.
    assert!(store
        .batches()
        .add_items(
            &BatchId::new("batch_ok"),
            &[item(1, "sk-other-key-7654321", KeyPlan::New)]
        )
        .unwrap_err()
        .is_conflict());
}

#[test]
fn foreign_keys_are_enforced() {
    let store = crate::common::memory_store();
    seeded(&store);
    let mut b = new_batch("batch_x");
    b.host_id = HostId::new("host_missing");
    assert!(matches!(
        store.batches().create(&b, &[]),
        Err(StoreError::ForeignKey { .. })
    ));
    let mut b = new_batch("batch_y");
    b.provider_id = ProviderId("not-in-pack".into());
    assert!(matches!(
        store.batches().create(&b, &[]),
        Err(StoreError::ForeignKey { .. })
    ));
    let mut r = account("sk-fk-test-key-0000", Some("batch_nope"));
    assert!(matches!(
        store.resources().record_intent(&r),
        Err(StoreError::ForeignKey { .. })
    ));
    r.batch_id = None;
    r.pack_id = PackId("other".into());
    assert!(matches!(
        store.resources().record_intent(&r),
        Err(StoreError::ForeignKey { .. })
    ));
    assert!(store
        .batches()
        .list(&BatchFilter::default())
        .unwrap()
        .is_empty());
}

#[test]
fn interrupt_marks_every_running_batch_in_one_call() {
    let store = crate::common::memory_store();
    seeded(&store);
    for id in ["batch_a", "batch_b", "batch_c", "batch_d"] {
        store.batches().create(&new_batch(id), &[]).unwrap();
    }
    let go = |id: &str, events: &[BatchEvent]| {
        for e in events {
            store.batches().transition(&BatchId::new(id), *e).unwrap();
        }
    };
    use BatchEvent::*;
    go("batch_a", &[Preview, Start]);
    go("batch_b", &[Preview, Start, Succeed, StartRollback]);
    go("batch_c", &[Preview, Start, Succeed]);
    go("batch_d", &[Preview]);

    let mut ids = store.batches().interrupt_running().unwrap();
    ids.sort();
    assert_eq!(ids, vec![BatchId::new("batch_a"), BatchId::new("batch_b")]);
    for id in ["batch_a", "batch_b"] {
        let b = store.batches().get(&BatchId::new(id)).unwrap();
        assert_eq!(b.status, BatchStatus::Interrupted);
        assert!(b.interrupted_at.is_some());
    }
    assert_eq!(
        store
            .batches()
            .get(&BatchId::new("batch_c"))
            .unwrap()
            .status,
        BatchStatus::Succeeded
    );
    assert_eq!(
        store
            .batches()
            .get(&BatchId::new("batch_d"))
            .unwrap()
            .status,
        BatchStatus::Previewed
    );
    assert!(store.batches().interrupt_running().unwrap().is_empty());
    // An interrupted batch can resume.
    let resumed = store
        .batches()
        .transition(&BatchId::new("batch_a"), Start)
        .unwrap();
    assert_eq!(resumed.status, BatchStatus::Running);

    let interrupted = store
        .batches()
        .list(&BatchFilter {
            status: Some(BatchStatus::Interrupted),
            ..BatchFilter::default()
        })
        .unwrap();
    assert_eq!(interrupted.len(), 1);
    let by_provider = store
        .batches()
        .list(&BatchFilter {
            host_id: Some(host1()),
            provider_id: Some(deepseek()),
            limit: Some(2),
            ..BatchFilter::default()
        })
        .unwrap();
    assert_eq!(by_provider.len(), 2);
}

#[test]
fn journal_intent_then_host_id_then_state() {
    let store = crate::common::memory_store();
    seeded(&store);
    store.batches().create(&new_batch("batch_1"), &[]).unwrap();

    // Several intents coexist with a NULL host id.
    let g = store.resources().record_intent(&group("batch_1")).unwrap();
    let a = store
        .resources()
        .record_intent(&account("sk-account-key-1111", Some("batch_1")))
        .unwrap();
    let a2 = store
        .resources()
        .record_intent(&account("sk-account-key-2222", Some("batch_1")))
        .unwrap();
    assert_eq!(g.state, ResourceState::Intent);
    assert!(g.host_resource_id.is_none());
    assert_eq!(store.resources().list_intents(None).unwrap().len(), 3);

    // Live states need a host id.
    assert!(matches!(
        store.resources().set_state(a.id, ResourceState::Created),
        Err(StoreError::InvalidState { .. })
    ));
    let g = store
        .resources()
        .attach_host_id(g.id, 7, ResourceState::Created)
        .unwrap();
    assert_eq!(g.host_resource_id, Some(7));
    assert_eq!(g.state, ResourceState::Created);
    assert!(matches!(
        store
            .resources()
            .attach_host_id(g.id, 8, ResourceState::Created),
        Err(StoreError::InvalidState { .. })
    ));
    store
        .resources()
        .attach_host_id(a.id, 101, ResourceState::Adopted)
        .unwrap();
    let absent = store
        .resources()
        .set_state(a2.id, ResourceState::Absent)
        .unwrap();
    assert_eq!(absent.state, ResourceState::Absent);
    assert!(store
        .resources()
        .list_intents(Some(&host1()))
        .unwrap()
        .is_empty());

    // The same host object cannot be recorded twice.
    let err = store
        .resources()
        .record_existing(&group("batch_1"), 7, ResourceState::Reused)
        .unwrap_err();
    match err {
        StoreError::Conflict { what } => assert!(what.contains("managed_resources"), "{what}"),
        other => panic!("expected Conflict, got {other:?}"),
    }
    // A different type with the same host id is fine.
    let mut ch = group("batch_1");
    ch.resource_type = ResourceType::Channel;
    let ch = store
        .resources()
        .record_existing(&ch, 7, ResourceState::Reused)
        .unwrap();
    assert_eq!(ch.state, ResourceState::Reused);

    let found = store
        .resources()
        .find_by_host_resource(&host1(), ResourceType::Group, 7)
        .unwrap()
        .unwrap();
    assert_eq!(found.id, g.id);

    let live = store
        .resources()
        .find_live_account(
            &host1(),
            &deepseek(),
            &Fingerprint::of("sk-account-key-1111"),
        )
        .unwrap()
        .unwrap();
    assert_eq!(live.host_resource_id, Some(101));
    assert!(store
        .resources()
        .find_live_account(
            &host1(),
            &deepseek(),
            &Fingerprint::of("sk-account-key-2222")
        )
        .unwrap()
        .is_none());
    store
        .resources()
        .set_state(live.id, ResourceState::Retired)
        .unwrap();
    assert!(store
        .resources()
        .find_live_account(
            &host1(),
            &deepseek(),
            &Fingerprint::of("sk-account-key-1111")
        )
        .unwrap()
        .is_none());

    let by_batch = store
        .resources()
        .list_by_batch(&BatchId::new("batch_1"))
        .unwrap();
    assert_eq!(by_batch.len(), 4);
    let by_provider = store
        .resources()
        .list_for_provider(&host1(), &pack_cn(), &deepseek())
        .unwrap();
    assert_eq!(by_provider.len(), 4);
    assert!(store
        .resources()
        .list_for_provider(&host1(), &pack_cn(), &ProviderId("kimi".into()))
        .unwrap()
        .is_empty());
    let updated = store
        .resources()
        .set_details(g.id, &json!({"name": "crm-cn-deepseek-sub"}))
        .unwrap();
    assert_eq!(updated.details["name"], "crm-cn-deepseek-sub");
}

#[test]
fn host_delete_is_refused_while_in_use() {
    let store = crate::common::memory_store();
    seeded(&store);
    store.batches().create(&new_batch("batch_1"), &[]).unwrap();
    store
        .resources()
        .record_intent(&account("sk-in-use-key-00000", None))
        .unwrap();
    match store.hosts().delete(&host1()).unwrap_err() {
        StoreError::InUse {
            kind,
            id,
            references,
        } => {
            assert_eq!(kind, "host");
            assert_eq!(id, "host_1");
            assert!(references.contains("1 import batches"), "{references}");
            assert!(references.contains("1 managed resources"), "{references}");
        }
        other => panic!("expected InUse, got {other:?}"),
    }
    assert!(store.hosts().get(&host1()).is_ok());
}

fn kimi_batch(id: &str) -> NewBatch {
    NewBatch {
        provider_id: ProviderId("kimi".into()),
        ..new_batch(id)
    }
}

#[test]
fn open_writes_the_install_the_probe_key_the_batch_and_its_items_at_once() {
    let store = crate::common::memory_store();
    seeded(&store);
    let items = [
        item(1, "sk-open-a", KeyPlan::New),
        item(2, "sk-open-a", KeyPlan::DuplicateInRequest),
        item(3, "sk-open-b", KeyPlan::AlreadyImported),
    ];
    let probe_key = Secret::new("sk-user-probe-key-1");
    let b = store
        .batches()
        .open(
            &new_batch("batch_open"),
            &items,
            &json!({"phase": "import", "preview": {"counts": {"new": 1}}}),
            Some(&probe_key),
        )
        .unwrap();
    assert_eq!(b.status, BatchStatus::Running);
    assert!(b.started_at.is_some());
    assert_eq!(b.report.as_ref().unwrap()["phase"], "import");
    assert_eq!(b.counts.total, 3);
    assert_eq!(b.counts.skipped, 2);
    assert_eq!(store.batches().items(&b.id).unwrap().len(), 3);
    let install = store
        .installs()
        .find(&host1(), &pack_cn(), &deepseek())
        .unwrap()
        .expect("the install is ensured");
    assert_eq!(install.last_batch_id, Some(b.id.clone()));
    let slot = SecretSlot::probe_key(&host1(), &pack_cn(), &deepseek());
    assert_eq!(
        store
            .secrets()
            .get(&slot)
            .unwrap()
            .map(|s| s.expose().to_string()),
        Some(probe_key.expose().to_string())
    );
    // A finished batch moves on from `running` like any other.
    let done = store
        .batches()
        .transition(&b.id, BatchEvent::Succeed)
        .unwrap();
    assert_eq!(done.status, BatchStatus::Succeeded);
}

#[test]
fn open_failing_part_way_leaves_nothing_behind() {
    let store = crate::common::memory_store();
    seeded(&store);
    store
        .batches()
        .open(
            &new_batch("batch_taken"),
            &[item(1, "sk-open-a", KeyPlan::New)],
            &json!({"phase": "import"}),
            None,
        )
        .unwrap();
    let kimi = ProviderId("kimi".into());
    let slot = SecretSlot::probe_key(&host1(), &pack_cn(), &kimi);
    let probe_key = Secret::new("sk-user-probe-key-2");

    // The batch insert fails (its id is taken) after the install and the probe key
    // were written in the same transaction.
    let err = store
        .batches()
        .open(
            &kimi_batch("batch_taken"),
            &[item(1, "sk-open-k", KeyPlan::New)],
            &json!({"phase": "import"}),
            Some(&probe_key),
        )
        .unwrap_err();
    assert!(!matches!(err, StoreError::NotFound { .. }), "{err}");
    // The item insert fails (two items on one line) after the batch row was written.
    store
        .batches()
        .open(
            &kimi_batch("batch_kimi"),
            &[
                item(1, "sk-open-k", KeyPlan::New),
                item(1, "sk-open-l", KeyPlan::New),
            ],
            &json!({"phase": "import"}),
            Some(&probe_key),
        )
        .unwrap_err();

    assert!(store
        .installs()
        .find(&host1(), &pack_cn(), &kimi)
        .unwrap()
        .is_none());
    assert!(store.secrets().get(&slot).unwrap().is_none());
    assert!(matches!(
        store.batches().get(&BatchId::new("batch_kimi")),
        Err(StoreError::NotFound { .. })
    ));
    assert!(store
        .batches()
        .items(&BatchId::new("batch_kimi"))
        .unwrap()
        .is_empty());
    let taken = store.batches().get(&BatchId::new("batch_taken")).unwrap();
    assert_eq!(taken.provider_id, deepseek());
    assert_eq!(store.batches().items(&taken.id).unwrap().len(), 1);
    assert_eq!(
        store.batches().list(&BatchFilter::default()).unwrap().len(),
        1
    );
}

#[test]
fn unstarted_batches_fail_at_recovery_and_running_ones_are_left_alone() {
    let store = crate::common::memory_store();
    seeded(&store);
    for id in ["batch_p", "batch_v", "batch_r"] {
        store.batches().create(&new_batch(id), &[]).unwrap();
    }
    let id = |s: &str| BatchId::new(s);
    store
        .batches()
        .transition(&id("batch_v"), BatchEvent::Preview)
        .unwrap();
    for e in [BatchEvent::Preview, BatchEvent::Start] {
        store.batches().transition(&id("batch_r"), e).unwrap();
    }
    let mut failed = store
        .batches()
        .fail_unstarted("the server stopped before the import started")
        .unwrap();
    failed.sort();
    assert_eq!(failed, vec![id("batch_p"), id("batch_v")]);
    for b in ["batch_p", "batch_v"] {
        let b = store.batches().get(&id(b)).unwrap();
        assert_eq!(b.status, BatchStatus::Failed);
        assert!(b.finished_at.is_some());
        assert_eq!(
            b.error.as_deref(),
            Some("the server stopped before the import started")
        );
    }
    assert_eq!(
        store.batches().get(&id("batch_r")).unwrap().status,
        BatchStatus::Running
    );
    assert!(store.batches().fail_unstarted("again").unwrap().is_empty());
}

#[test]
fn a_batch_rows_read_page_by_page_are_each_read_once() {
    let store = Store::open_in_memory().unwrap();
    seeded(&store);
    let keys: Vec<String> = (0..7).map(|i| format!("sk-page-{i:032}")).collect();
    let mut request = new_batch("batch_a");
    request.request = json!({"keys": [{"line": 1}], "dropped": [{"line": 9}], "concurrency": 8});
    let items: Vec<NewBatchItem> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| item(i as u32 + 1, k, KeyPlan::New))
        .collect();
    store.batches().create(&request, &items).unwrap();
    store
        .batches()
        .create(&new_batch("batch_b"), &[item(1, "sk-other", KeyPlan::New)])
        .unwrap();
    // The two batches' journal rows and probes interleave.
    for k in &keys {
        store
            .resources()
            .record_intent(&account(k, Some("batch_a")))
            .unwrap();
        store
            .resources()
            .record_intent(&account(&format!("{k}-b"), Some("batch_b")))
            .unwrap();
        for batch in ["batch_a", "batch_b"] {
            store
                .probes()
                .insert(&NewProbeResult {
                    host_id: host1(),
                    pack_id: Some(pack_cn()),
                    provider_id: Some(deepseek()),
                    batch_id: Some(BatchId::new(batch)),
                    reconcile_run_id: None,
                    kind: ProbeKind::AccountTest,
                    subject: k.chars().rev().take(4).collect(),
                    outcome: Verdict::Passed,
                    http_status: Some(200),
                    message: None,
                    duration_ms: None,
                    details: json!({}),
                })
                .unwrap();
        }
    }
    let a = BatchId::new("batch_a");
    let (mut seqs, mut after) = (Vec::new(), 0);
    loop {
        let page = store.batches().items_page(&a, after, 3).unwrap();
        assert!(page.len() <= 3);
        seqs.extend(page.iter().map(|i| i.seq));
        match page.last() {
            Some(last) => after = last.seq,
            None => break,
        }
    }
    assert_eq!(seqs, (1..=7).collect::<Vec<u32>>());
    let whole: Vec<i64> = store
        .resources()
        .list_by_batch(&a)
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    let (mut ids, mut after) = (Vec::new(), 0);
    loop {
        let page = store.batches().resources_page(&a, after, 3).unwrap();
        ids.extend(page.iter().map(|r| r.id));
        match page.last() {
            Some(last) => after = last.id,
            None => break,
        }
    }
    assert_eq!(whole.len(), 7);
    assert_eq!(ids, whole);
    let whole: Vec<i64> = store
        .probes()
        .list_by_batch(&a)
        .unwrap()
        .iter()
        .map(|p| p.id)
        .collect();
    let (mut ids, mut after) = (Vec::new(), 0);
    loop {
        let page = store.batches().probes_page(&a, after, 3).unwrap();
        ids.extend(page.iter().map(|p| p.id));
        match page.last() {
            Some(last) => after = last.id,
            None => break,
        }
    }
    assert_eq!(whole.len(), 7);
    assert_eq!(ids, whole);

    // Summaries leave the request record's per-line lists out, nothing else.
    let filter = BatchFilter {
        provider_id: Some(deepseek()),
        ..BatchFilter::default()
    };
    let full = store.batches().list(&filter).unwrap();
    let summaries = store.batches().list_summaries(&filter).unwrap();
    assert_eq!(summaries.len(), 2);
    let summary = summaries.iter().find(|b| b.id == a).unwrap();
    let whole = full.iter().find(|b| b.id == a).unwrap();
    assert_eq!(summary.request, json!({"concurrency": 8}));
    assert_eq!(whole.request["keys"], json!([{"line": 1}]));
    assert_eq!(summary.counts, whole.counts);
    assert_eq!(summary.status, whole.status);
}
