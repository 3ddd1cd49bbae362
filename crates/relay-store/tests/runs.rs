//! Batch auto-import runs: creation in one transaction, paging and search, leases
//! with fencing, the sealed item keys and their erasure, cancel and retry.

use std::collections::BTreeSet;

use relay_domain::{
    AccessMode, AccessStatus, ConfirmationEvent, ConfirmationStatus, Fingerprint, HostAnswerClass,
    ProviderId, ReuseDecision, RunEvent, RunId, RunItemEvent, RunItemEventKind, RunItemId,
    RunItemState, RunState, Secret, Timestamp,
};
use relay_store::{
    HostRepository, ItemLease, NewRun, NewRunItem, NewRunItemEvent, RetryScope, RunFilter,
    RunItemPatch, RunRepository, Store, StoreError,
};
use rusqlite::Connection;

use crate::common::{host1, new_host, pack_cn, seeded, TempDir, KEY_A};

fn key(n: usize) -> String {
    format!("sk-runtest-{n:02}-0123456789abcdefABCDEF")
}

fn new_run(id: &str) -> NewRun {
    NewRun {
        id: RunId::new(id),
        host_id: host1(),
        pack_id: pack_cn(),
        access_mode: AccessMode::Subscription,
        subscribers: vec!["probe@example.test".into(), "42".into()],
        validity_days: Some(30),
        subscriber_validity_days: vec![("42".into(), 7)],
        probe_key_ref: Some("provider_install:host_1/cn/deepseek:probe_key".into()),
        allow_adhoc: false,
        profile: true,
    }
}

fn new_item(run: &str, line: i64, provider: &str, url: &str, n: usize) -> NewRunItem {
    NewRunItem {
        id: RunItemId::new(format!("{run}_item_{line}")),
        line_no: line,
        base_url: url.into(),
        key: Secret::new(key(n)),
        provider_id: Some(ProviderId(provider.into())),
        adhoc: false,
        model_hint: Some("kimi 2.6".into()),
        canonical_model: Some("kimi-k2.6".into()),
        model_correction: Some("kimi 2.6 → kimi-k2.6".into()),
        skipped: false,
        error: None,
        warnings: Vec::new(),
    }
}

fn three_items(run: &str, base: usize) -> Vec<NewRunItem> {
    vec![
        new_item(run, 1, "deepseek", "https://api.deepseek.com/v1", base),
        new_item(run, 2, "kimi", "https://api.moonshot.cn/v1", base + 1),
        NewRunItem {
            skipped: true,
            ..new_item(run, 3, "kimi", "https://api.moonshot.cn/v1", base + 1)
        },
    ]
}

fn store() -> Store {
    let store = crate::common::memory_store();
    seeded(&store);
    store
}

fn later(ms: i64) -> Timestamp {
    Timestamp(Timestamp::now().0 + ms)
}

/// Every lease of `owner` taken now, with a long lease.
fn take_all(store: &Store, owner: &str) -> Vec<ItemLease> {
    store
        .runs()
        .acquire_items(owner, later(10), 60_000, 100)
        .unwrap()
}

#[test]
fn a_run_is_created_with_its_items_and_sealed_keys() {
    let store = store();
    let run = store
        .runs()
        .create(&new_run("run_a"), &three_items("run_a", 1))
        .unwrap();
    assert_eq!(run.state, RunState::Pending);
    assert_eq!(run.counts.total, 3);
    assert_eq!(run.counts.skipped, 1);
    assert_eq!(run.counts.open(), 2);
    assert_eq!(
        run.subscribers,
        vec!["probe@example.test".to_string(), "42".to_string()]
    );
    assert_eq!(run.subscriber_validity_days, vec![("42".to_string(), 7)]);
    assert_eq!(run.validity_days, Some(30));
    assert!(run.profile && !run.allow_adhoc);
    assert_eq!(store.runs().get(&run.id).unwrap(), run);

    let items = store.runs().items(&run.id, None, 10).unwrap();
    assert_eq!(items.next_cursor, None);
    let [a, b, c] = &items.items[..] else {
        panic!("three items expected")
    };
    assert_eq!(a.state, RunItemState::Pending);
    assert_eq!(a.confirmation_status, ConfirmationStatus::Pending);
    assert_eq!(a.fingerprint, Fingerprint::of(&key(1)));
    assert!(!a.mask.contains(&key(1)) && a.mask.len() < key(1).len());
    assert_eq!(a.canonical_model.as_deref(), Some("kimi-k2.6"));
    assert_eq!(a.model_correction.as_deref(), Some("kimi 2.6 → kimi-k2.6"));
    assert!(a.has_sealed_key && b.has_sealed_key);
    // A repeated line is recorded skipped, its key not kept.
    assert_eq!(c.state, RunItemState::Skipped);
    assert!(!c.has_sealed_key);
    let trail = store.runs().events(&a.id).unwrap();
    assert_eq!(trail.len(), 1);
    assert_eq!(trail[0].kind, RunItemEventKind::Created);

    // Item pages by line number.
    let first = store.runs().items(&run.id, None, 2).unwrap();
    assert_eq!(first.items.len(), 2);
    let rest = store
        .runs()
        .items(&run.id, first.next_cursor.as_deref(), 2)
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.items[0].line_no, 3);
    assert_eq!(rest.next_cursor, None);
    assert!(matches!(
        store.runs().items(&run.id, Some("not a cursor!"), 2),
        Err(StoreError::InvalidCursor)
    ));
}

fn table_count(store: &Store, table: &str) -> i64 {
    let path = store.db_path().unwrap().to_path_buf();
    let conn = Connection::open(path).unwrap();
    conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

#[test]
fn a_failure_part_way_through_creation_leaves_nothing() {
    let dir = TempDir::new("runs-atomic");
    let store = Store::open(dir.path(), Some(KEY_A)).unwrap();
    seeded(&store);
    // The third item repeats the line number of the first: the failure comes after
    // the run, two items, their keys and events were written.
    let mut items = three_items("run_a", 1);
    items[2].line_no = 1;
    items[2].skipped = false;
    assert!(matches!(
        store.runs().create(&new_run("run_a"), &items),
        Err(StoreError::Conflict { .. })
    ));
    assert!(matches!(
        store.runs().get(&RunId::new("run_a")),
        Err(StoreError::NotFound { .. })
    ));
    for table in [
        "import_runs",
        "import_run_items",
        "import_run_item_keys",
        "import_run_item_events",
    ] {
        assert_eq!(table_count(&store, table), 0, "{table}");
    }
    // An unknown host fails on the run row itself.
    let mut run = new_run("run_b");
    run.host_id = relay_domain::HostId::new("host_missing");
    assert!(store.runs().create(&run, &three_items("run_b", 1)).is_err());
    assert_eq!(table_count(&store, "import_run_items"), 0);
    // The same request, well formed, goes through.
    let run = store
        .runs()
        .create(&new_run("run_a"), &three_items("run_a", 1))
        .unwrap();
    assert_eq!(run.counts.total, 3);
    assert_eq!(table_count(&store, "import_run_item_keys"), 2);
}

#[test]
fn run_moves_go_through_the_machine() {
    let store = store();
    let id = store
        .runs()
        .create(&new_run("run_a"), &three_items("run_a", 1))
        .unwrap()
        .id;
    let err = store
        .runs()
        .transition_run(&id, RunEvent::Succeed, None)
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidTransition(_)), "{err}");
    assert_eq!(store.runs().get(&id).unwrap().state, RunState::Pending);
    let run = store
        .runs()
        .transition_run(&id, RunEvent::Start, None)
        .unwrap();
    assert_eq!(run.state, RunState::Running);
    assert_eq!(run.finished_at, None);
    // Items still open: the run cannot be completed.
    assert!(matches!(
        store.runs().complete_run(&id),
        Err(StoreError::InvalidState { .. })
    ));
    let run = store
        .runs()
        .transition_run(&id, RunEvent::Fail, Some("host unreachable"))
        .unwrap();
    assert_eq!(run.state, RunState::Failed);
    assert!(run.finished_at.is_some());
    assert_eq!(run.error.as_deref(), Some("host unreachable"));
    assert!(store
        .runs()
        .transition_run(&id, RunEvent::Start, None)
        .is_err());
}

#[test]
fn two_owners_never_lease_the_same_item() {
    let store = store();
    for r in 0..4 {
        let run = format!("run_{r}");
        let items: Vec<NewRunItem> = (1..=5)
            .map(|l| {
                new_item(
                    &run,
                    l,
                    "deepseek",
                    "https://api.deepseek.com",
                    r * 10 + l as usize,
                )
            })
            .collect();
        store.runs().create(&new_run(&run), &items).unwrap();
    }
    let taken: Vec<Vec<ItemLease>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|w| {
                let store = &store;
                s.spawn(move || {
                    let owner = format!("worker-{w}");
                    let mut mine = Vec::new();
                    loop {
                        let got = store
                            .runs()
                            .acquire_items(&owner, later(10), 60_000, 2)
                            .unwrap();
                        if got.is_empty() {
                            break mine;
                        }
                        mine.extend(got);
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let all: Vec<&ItemLease> = taken.iter().flatten().collect();
    let distinct: BTreeSet<&str> = all.iter().map(|l| l.item_id.as_str()).collect();
    assert_eq!(all.len(), 20);
    assert_eq!(distinct.len(), 20, "an item was leased twice");
    for lease in &all {
        let item = store.runs().item(&lease.item_id).unwrap();
        assert_eq!(item.state, RunItemState::Running);
        assert_eq!(item.lease_owner.as_deref(), Some(lease.owner.as_str()));
        assert_eq!(item.lease_generation, lease.generation);
    }
    // Taking an item started its run.
    assert_eq!(
        store.runs().get(&RunId::new("run_0")).unwrap().state,
        RunState::Running
    );
    // Live leases: nothing is due.
    assert!(take_all(&store, "late").is_empty());
}

#[test]
fn an_expired_lease_is_taken_over_and_the_old_owner_is_fenced_off() {
    let store = store();
    store
        .runs()
        .create(&new_run("run_a"), &three_items("run_a", 1)[..1])
        .unwrap();
    let t0 = later(10);
    let old = store
        .runs()
        .acquire_items("worker-a", t0, 1_000, 10)
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(old.generation, 1);
    assert_eq!(old.until, Timestamp(t0.0 + 1_000));
    // Still held at t0 + 500.
    assert!(store
        .runs()
        .acquire_items("worker-b", Timestamp(t0.0 + 500), 1_000, 10)
        .unwrap()
        .is_empty());
    // Expired at t0 + 2000: worker-b takes it over with a new generation.
    let new = store
        .runs()
        .acquire_items("worker-b", Timestamp(t0.0 + 2_000), 60_000, 10)
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(new.item_id, old.item_id);
    assert_eq!(new.generation, 2);
    // Every write of the old owner is refused and changes nothing.
    let fenced = |r: Result<_, StoreError>| {
        assert!(
            matches!(r, Err(StoreError::LeaseLost { generation: 1, .. })),
            "expected LeaseLost"
        );
    };
    fenced(
        store
            .runs()
            .schedule_retry(&old, later(5_000), 3)
            .map(|_| ()),
    );
    fenced(
        store
            .runs()
            .transition_item(&old, RunItemEvent::Succeed)
            .map(|_| ()),
    );
    fenced(
        store
            .runs()
            .renew(&old, Timestamp(t0.0 + 2_100), 1_000)
            .map(|_| ()),
    );
    fenced(store.runs().open_key(&old).map(|_| ()));
    fenced(
        store
            .runs()
            .record_account(&old, 7, ReuseDecision::Created, "new key")
            .map(|_| ()),
    );
    fenced(
        store
            .runs()
            .confirm(&old, ConfirmationEvent::Start)
            .map(|_| ()),
    );
    let item = store.runs().item(&new.item_id).unwrap();
    assert_eq!(item.lease_owner.as_deref(), Some("worker-b"));
    assert_eq!(item.account_id, None);
    assert!(item.has_sealed_key);
    // The new owner's writes go through.
    let renewed = store
        .runs()
        .renew(&new, Timestamp(t0.0 + 3_000), 60_000)
        .unwrap();
    assert_eq!(renewed.until, Timestamp(t0.0 + 63_000));
    assert_eq!(
        store.runs().open_key(&new).unwrap().unwrap().expose(),
        key(1)
    );
    let item = store
        .runs()
        .schedule_retry(&new, Timestamp(t0.0 + 10_000), 1)
        .unwrap();
    assert_eq!(item.state, RunItemState::Pending);
    assert_eq!(item.attempts, 1);
    assert_eq!(item.lease_owner, None);
    // Not due before its retry time, due after.
    assert!(store
        .runs()
        .acquire_items("worker-c", Timestamp(t0.0 + 9_000), 1_000, 10)
        .unwrap()
        .is_empty());
    let again = store
        .runs()
        .acquire_items("worker-c", Timestamp(t0.0 + 10_000), 1_000, 10)
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].generation, 3);
    // The same owner with an older generation is fenced off too.
    let stale = ItemLease {
        generation: 2,
        ..again[0].clone()
    };
    assert!(matches!(
        store.runs().renew(&stale, Timestamp(t0.0 + 10_001), 1_000),
        Err(StoreError::LeaseLost { generation: 2, .. })
    ));
    // A release makes it due at once.
    store.runs().release(&again[0]).unwrap();
    assert_eq!(take_all(&store, "worker-d").len(), 1);
}

/// True when `needle` occurs in the database file or its -wal / -shm files.
fn on_disk(dir: &TempDir, needle: &str) -> bool {
    ["relay.db", "relay.db-wal", "relay.db-shm"]
        .iter()
        .any(|name| {
            std::fs::read(dir.path().join(name))
                .map(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
                .unwrap_or(false)
        })
}

#[test]
fn keys_are_erased_on_account_creation_cancel_and_run_end_and_never_stored_in_clear() {
    let dir = TempDir::new("runs-keys");
    let store = Store::open(dir.path(), Some(KEY_A)).unwrap();
    seeded(&store);
    // Run A: account creation, then the run ends.
    store
        .runs()
        .create(&new_run("run_a"), &three_items("run_a", 1))
        .unwrap();
    // Run B: cancelled.
    store
        .runs()
        .create(&new_run("run_b"), &three_items("run_b", 11))
        .unwrap();
    for n in [1, 2, 11, 12] {
        assert!(!on_disk(&dir, &key(n)), "key {n} stored in clear");
    }
    assert_eq!(table_count(&store, "import_run_item_keys"), 4);

    let leases = take_all(&store, "worker");
    let lease_a1 = leases
        .iter()
        .find(|l| l.item_id.as_str() == "run_a_item_1")
        .unwrap();
    let lease_a2 = leases
        .iter()
        .find(|l| l.item_id.as_str() == "run_a_item_2")
        .unwrap();
    // The worker opens the key, the host creates the account: the key goes with it.
    assert_eq!(
        store.runs().open_key(lease_a1).unwrap().unwrap().expose(),
        key(1)
    );
    let item = store
        .runs()
        .record_account(lease_a1, 42, ReuseDecision::Created, "no earlier account")
        .unwrap();
    assert_eq!(item.account_id, Some(42));
    assert_eq!(item.reuse_decision, Some(ReuseDecision::Created));
    assert!(!item.has_sealed_key);
    assert_eq!(store.runs().open_key(lease_a1).unwrap(), None);
    let kinds: Vec<RunItemEventKind> = store
        .runs()
        .events(&item.id)
        .unwrap()
        .iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        vec![
            RunItemEventKind::Created,
            RunItemEventKind::AccountReady,
            RunItemEventKind::KeyErased
        ]
    );
    store
        .runs()
        .confirm(lease_a1, ConfirmationEvent::Start)
        .unwrap();
    let item = store
        .runs()
        .confirm(lease_a1, ConfirmationEvent::Confirm)
        .unwrap();
    assert_eq!(item.confirmation_status, ConfirmationStatus::Confirmed);
    store
        .runs()
        .transition_item(lease_a1, RunItemEvent::Succeed)
        .unwrap();
    // The second item fails for good: its key goes too.
    let item = store
        .runs()
        .transition_item(lease_a2, RunItemEvent::Fail)
        .unwrap();
    assert_eq!(item.state, RunItemState::Failed);
    assert!(!item.has_sealed_key);
    let run = store.runs().complete_run(&RunId::new("run_a")).unwrap();
    assert_eq!(run.state, RunState::PartiallySucceeded);
    assert_eq!((run.counts.succeeded, run.counts.failed), (1, 1));

    // Run B is cancelled while its items are leased: every key goes, the leases
    // are fenced off.
    let lease_b1 = leases
        .iter()
        .find(|l| l.item_id.as_str() == "run_b_item_1")
        .unwrap();
    let run = store.runs().cancel_run(&RunId::new("run_b")).unwrap();
    assert_eq!(run.state, RunState::Cancelled);
    assert_eq!(run.counts.cancelled, 2);
    assert_eq!(run.counts.skipped, 1);
    assert!(run.finished_at.is_some());
    let items = store.runs().items(&run.id, None, 10).unwrap().items;
    for item in &items[..2] {
        assert_eq!(item.state, RunItemState::Cancelled);
        assert_eq!(item.confirmation_status, ConfirmationStatus::Cancelled);
        assert_eq!(item.lease_owner, None);
        assert!(!item.has_sealed_key);
    }
    assert!(matches!(
        store.runs().open_key(lease_b1),
        Err(StoreError::LeaseLost { .. })
    ));
    // Cancelling an ended run is refused.
    assert!(matches!(
        store.runs().cancel_run(&RunId::new("run_b")),
        Err(StoreError::InvalidTransition(_))
    ));

    assert_eq!(table_count(&store, "import_run_item_keys"), 0);
    drop(store);
    for n in [1, 2, 11, 12] {
        assert!(!on_disk(&dir, &key(n)), "key {n} on disk");
    }
}

#[test]
fn a_run_ending_erases_the_keys_of_items_still_open() {
    let store = store();
    let id = store
        .runs()
        .create(&new_run("run_a"), &three_items("run_a", 1))
        .unwrap()
        .id;
    store
        .runs()
        .transition_run(&id, RunEvent::Fail, Some("pack withdrawn"))
        .unwrap();
    let items = store.runs().items(&id, None, 10).unwrap().items;
    assert!(items.iter().all(|i| !i.has_sealed_key));
    // An ended run's items are not taken any more.
    assert!(take_all(&store, "worker").is_empty());
}

#[test]
fn cursor_paging_returns_every_run_exactly_once_newest_first() {
    let store = store();
    for r in 0..7 {
        let id = format!("run_{r}");
        store
            .runs()
            .create(
                &new_run(&id),
                &[new_item(&id, 1, "deepseek", "https://api.deepseek.com", r)],
            )
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = store
            .runs()
            .list(&RunFilter {
                cursor: cursor.clone(),
                limit: 3,
                ..RunFilter::default()
            })
            .unwrap();
        pages += 1;
        assert!(page.items.len() <= 3);
        seen.extend(page.items.into_iter().map(|r| (r.created_at, r.id)));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let ids: BTreeSet<&str> = seen.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(seen.len(), 7);
    assert_eq!(ids.len(), 7);
    // Newest first, ties broken by id.
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted);
    assert!(matches!(
        store.runs().list(&RunFilter {
            cursor: Some("%%%".into()),
            ..RunFilter::default()
        }),
        Err(StoreError::InvalidCursor)
    ));
}

#[test]
fn q_and_filters_select_runs() {
    let store = store();
    store.hosts().create(&new_host("host_2", "second")).unwrap();
    store
        .runs()
        .create(
            &new_run("run_ds"),
            &[new_item(
                "run_ds",
                1,
                "deepseek",
                "https://api.deepseek.com/v1",
                1,
            )],
        )
        .unwrap();
    store
        .runs()
        .create(
            &new_run("run_kimi"),
            &[new_item(
                "run_kimi",
                1,
                "kimi",
                "https://api.moonshot.cn/v1",
                2,
            )],
        )
        .unwrap();
    let mut other = new_run("run_other_host");
    other.host_id = relay_domain::HostId::new("host_2");
    store
        .runs()
        .create(
            &other,
            &[new_item(
                "run_other_host",
                1,
                "kimi",
                "https://api.moonshot.ai",
                3,
            )],
        )
        .unwrap();
    store
        .runs()
        .transition_run(&RunId::new("run_kimi"), RunEvent::Start, None)
        .unwrap();
    let ids = |filter: RunFilter| -> BTreeSet<String> {
        store
            .runs()
            .list(&filter)
            .unwrap()
            .items
            .into_iter()
            .map(|r| r.id.to_string())
            .collect()
    };
    let set = |v: &[&str]| -> BTreeSet<String> { v.iter().map(|s| s.to_string()).collect() };
    let q = |q: &str| RunFilter {
        q: Some(q.into()),
        ..RunFilter::default()
    };
    assert_eq!(ids(q("MOONSHOT")), set(&["run_kimi", "run_other_host"]));
    assert_eq!(ids(q("moonshot.cn")), set(&["run_kimi"]));
    assert_eq!(ids(q("deepseek")), set(&["run_ds"]));
    assert_eq!(ids(q("run_other")), set(&["run_other_host"]));
    assert_eq!(ids(q("%")), set(&[]));
    assert_eq!(ids(q("nothing-like-this")), set(&[]));
    assert_eq!(
        ids(RunFilter {
            state: Some(RunState::Running),
            ..RunFilter::default()
        }),
        set(&["run_kimi"])
    );
    assert_eq!(
        ids(RunFilter {
            host_id: Some(host1()),
            ..RunFilter::default()
        }),
        set(&["run_ds", "run_kimi"])
    );
    assert_eq!(
        ids(RunFilter {
            provider_id: Some(ProviderId("kimi".into())),
            host_id: Some(host1()),
            ..RunFilter::default()
        }),
        set(&["run_kimi"])
    );
    assert_eq!(
        ids(RunFilter {
            provider_id: Some(ProviderId("kimi".into())),
            q: Some("moonshot.ai".into()),
            ..RunFilter::default()
        }),
        set(&["run_other_host"])
    );
}

#[test]
fn retry_moves_failed_or_all_unsucceeded_items_back_to_pending() {
    let store = store();
    let id = RunId::new("run_a");
    let items: Vec<NewRunItem> = (1..=3)
        .map(|l| {
            new_item(
                "run_a",
                l,
                "deepseek",
                "https://api.deepseek.com",
                l as usize,
            )
        })
        .collect();
    store.runs().create(&new_run("run_a"), &items).unwrap();
    let leases = take_all(&store, "worker");
    // Item 1 has its account and fails confirmation; item 2 fails before its account;
    // item 3 is cancelled.
    store
        .runs()
        .record_account(
            &leases[0],
            5,
            ReuseDecision::Reactivated,
            "disabled earlier",
        )
        .unwrap();
    store
        .runs()
        .confirm(&leases[0], ConfirmationEvent::Start)
        .unwrap();
    store
        .runs()
        .confirm(&leases[0], ConfirmationEvent::Fail)
        .unwrap();
    store
        .runs()
        .transition_item(&leases[0], RunItemEvent::Fail)
        .unwrap();
    store
        .runs()
        .patch_item(
            &leases[1],
            &RunItemPatch {
                last_error: Some(Some("upstream said 500".into())),
                ..RunItemPatch::default()
            },
        )
        .unwrap();
    store
        .runs()
        .transition_item(&leases[1], RunItemEvent::Fail)
        .unwrap();
    store
        .runs()
        .transition_item(&leases[2], RunItemEvent::Cancel)
        .unwrap();
    let run = store.runs().complete_run(&id).unwrap();
    assert_eq!(run.state, RunState::Failed);

    // The run ended: item 2's key is gone and it has no account, so only item 1
    // (its account exists) can be retried.
    let out = store
        .runs()
        .retry_run(&id, RetryScope::Failed, Timestamp::now())
        .unwrap();
    assert_eq!(out.run.state, RunState::Pending);
    assert_eq!(out.retried, vec![RunItemId::new("run_a_item_1")]);
    assert_eq!(out.without_key, vec![RunItemId::new("run_a_item_2")]);
    let item = store.runs().item(&out.retried[0]).unwrap();
    assert_eq!(item.state, RunItemState::Pending);
    assert_eq!(item.confirmation_status, ConfirmationStatus::Pending);
    assert_eq!(item.attempts, 0);
    assert_eq!(item.last_error, None);
    // The old lease is fenced off.
    assert!(matches!(
        store.runs().confirm(&leases[0], ConfirmationEvent::Start),
        Err(StoreError::LeaseLost { .. })
    ));
    assert_eq!(
        store
            .runs()
            .item(&RunItemId::new("run_a_item_3"))
            .unwrap()
            .state,
        RunItemState::Cancelled
    );
    assert!(store
        .runs()
        .events(&out.retried[0])
        .unwrap()
        .iter()
        .any(|e| e.kind == RunItemEventKind::Retried));
}

#[test]
fn retry_while_running_keeps_the_run_going_and_a_succeeded_run_has_nothing_to_retry() {
    let store = store();
    let id = RunId::new("run_a");
    let items: Vec<NewRunItem> = (1..=2)
        .map(|l| {
            new_item(
                "run_a",
                l,
                "deepseek",
                "https://api.deepseek.com",
                l as usize,
            )
        })
        .collect();
    store.runs().create(&new_run("run_a"), &items).unwrap();
    let leases = take_all(&store, "worker");
    store
        .runs()
        .transition_item(&leases[0], RunItemEvent::Fail)
        .unwrap();
    // Failed (key erased, no account): not retryable; item 2 still running.
    let out = store
        .runs()
        .retry_run(&id, RetryScope::All, Timestamp::now())
        .unwrap();
    assert_eq!(out.run.state, RunState::Running);
    assert!(out.retried.is_empty());
    assert_eq!(out.without_key, vec![RunItemId::new("run_a_item_1")]);
    // A succeeded run has nothing to retry.
    let id = RunId::new("run_b");
    store
        .runs()
        .create(
            &new_run("run_b"),
            &[new_item("run_b", 1, "kimi", "https://api.moonshot.cn", 9)],
        )
        .unwrap();
    let lease = take_all(&store, "worker").pop().unwrap();
    store
        .runs()
        .record_account(&lease, 9, ReuseDecision::Reused, "same key")
        .unwrap();
    store
        .runs()
        .transition_item(&lease, RunItemEvent::Succeed)
        .unwrap();
    assert_eq!(
        store.runs().complete_run(&id).unwrap().state,
        RunState::Succeeded
    );
    assert!(matches!(
        store
            .runs()
            .retry_run(&id, RetryScope::All, Timestamp::now()),
        Err(StoreError::InvalidTransition(_))
    ));
}

#[test]
fn trail_texts_are_redacted_and_the_trail_is_append_only() {
    let dir = TempDir::new("runs-trail");
    let store = crate::common::open_store(&dir, Some(KEY_A)).unwrap();
    seeded(&store);
    store
        .runs()
        .create(&new_run("run_a"), &three_items("run_a", 1))
        .unwrap();
    let item = RunItemId::new("run_a_item_1");
    let mut event = NewRunItemEvent::new(RunItemEventKind::Attempt);
    event.attempt = Some(2);
    event.answer_class = Some(HostAnswerClass::WarmupForbidden403);
    event.decision = Some("retry".into());
    event.message = Some(format!("upstream rejected {}", key(1)));
    event.details = serde_json::json!({ "echo": key(1), "status": 403 });
    let stored = store.runs().append_event(&item, &event).unwrap();
    assert_eq!(stored.attempt, Some(2));
    assert_eq!(
        stored.answer_class,
        Some(HostAnswerClass::WarmupForbidden403)
    );
    let message = stored.message.unwrap();
    assert!(!message.contains(&key(1)), "{message}");
    assert!(message.starts_with("upstream rejected"));
    assert!(!stored.details.to_string().contains(&key(1)));
    assert_eq!(stored.details["status"], 403);
    // Errors written to a run are redacted too.
    let run = store
        .runs()
        .transition_run(
            &RunId::new("run_a"),
            RunEvent::Fail,
            Some(&format!("failed with {}", key(2))),
        )
        .unwrap();
    assert!(!run.error.unwrap().contains(&key(2)));
    let trail = store.runs().events(&item).unwrap();
    assert_eq!(trail.last().unwrap().id, stored.id);

    if let Some(url) = crate::common::database_url_for(&dir) {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let err = client
            .execute("UPDATE import_run_item_events SET message = 'x'", &[])
            .unwrap_err();
        let db = err.as_db_error().expect("a database error");
        assert_eq!(db.message(), "import_run_item_events is append-only");
        let n: i64 = client
            .query_one("SELECT COUNT(*) FROM import_run_item_events", &[])
            .unwrap()
            .get(0);
        assert!(n > 0);
        return;
    }
    let conn = Connection::open(dir.path().join("relay.db")).unwrap();
    assert!(conn
        .execute("UPDATE import_run_item_events SET message = 'x'", [])
        .is_err());
    drop(conn);
    drop(store);
    assert!(!on_disk(&dir, &key(1)));
    assert!(!on_disk(&dir, &key(2)));
}

#[test]
fn sealed_item_keys_survive_a_restart_and_a_master_key_rotation() {
    let dir = TempDir::new("runs-restart");
    {
        let store = crate::common::open_store(&dir, Some(KEY_A)).unwrap();
        seeded(&store);
        store
            .runs()
            .create(&new_run("run_a"), &three_items("run_a", 1)[..1])
            .unwrap();
    }
    let next = relay_store::MasterKey::from_base64(crate::common::KEY_B).unwrap();
    let report = relay_store::rotate_master_key_in(
        dir.path(),
        crate::common::database_url_for(&dir).as_deref(),
        Some(KEY_A),
        Some(next),
    )
    .unwrap();
    assert_eq!(report.counts.run_item_keys, 1);
    let store = crate::common::open_store(&dir, Some(crate::common::KEY_B)).unwrap();
    let lease = take_all(&store, "after-restart").pop().unwrap();
    assert_eq!(
        store.runs().open_key(&lease).unwrap().unwrap().expose(),
        key(1)
    );
}

#[test]
fn a_refused_line_is_failed_at_creation_without_a_key_and_an_all_refused_run_can_end() {
    let store = store();
    let id = RunId::new("run_refused");
    let secret = key(70);
    let items = vec![NewRunItem {
        provider_id: None,
        error: Some(format!(
            "no provider serves https://x.example (key {secret})"
        )),
        warnings: vec![format!("warning quoting {secret}")],
        ..new_item("run_refused", 1, "deepseek", "https://x.example", 70)
    }];
    let run = store
        .runs()
        .create(&new_run("run_refused"), &items)
        .unwrap();
    assert_eq!(run.counts.failed, 1);
    assert_eq!(run.counts.open(), 0);
    let item = store.runs().item(&items[0].id).unwrap();
    assert_eq!(item.state, RunItemState::Failed);
    assert!(!item.has_sealed_key, "a refused line keeps no key");
    assert!(item
        .last_error
        .as_deref()
        .unwrap()
        .contains("no provider serves"));
    assert!(!item.last_error.as_deref().unwrap().contains(&secret));
    assert_eq!(item.warnings.len(), 1);
    assert!(!item.warnings[0].contains(&secret));
    let kinds: Vec<RunItemEventKind> = store
        .runs()
        .events(&items[0].id)
        .unwrap()
        .iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        vec![RunItemEventKind::Created, RunItemEventKind::Failed]
    );
    // Nothing to work on: the run is finishable and ends failed.
    assert_eq!(store.runs().finishable().unwrap(), vec![id.clone()]);
    assert!(take_all(&store, "w1").is_empty());
    let ended = store.runs().complete_run(&id).unwrap();
    assert_eq!(ended.state, RunState::Failed);
    assert!(store.runs().finishable().unwrap().is_empty());
}

#[test]
fn the_run_access_proof_marks_each_providers_succeeded_items() {
    let store = store();
    let id = RunId::new("run_access");
    store
        .runs()
        .create(&new_run("run_access"), &three_items("run_access", 80))
        .unwrap();
    assert!(
        store.runs().finishable().unwrap().is_empty(),
        "items are open"
    );
    for lease in take_all(&store, "w1") {
        store
            .runs()
            .record_account(&lease, 7, ReuseDecision::Created, "new key")
            .unwrap();
        store
            .runs()
            .transition_item(&lease, RunItemEvent::Succeed)
            .unwrap();
    }
    assert_eq!(store.runs().finishable().unwrap(), vec![id.clone()]);
    let proof =
        serde_json::json!([{"provider_id": "deepseek", "access_status": "subscription_ready"}]);
    let run = store
        .runs()
        .record_access(
            &id,
            AccessStatus::SubscriptionReady,
            &proof,
            &[(
                ProviderId("deepseek".into()),
                AccessStatus::SubscriptionReady,
            )],
        )
        .unwrap();
    assert_eq!(run.access_status, AccessStatus::SubscriptionReady);
    assert_eq!(run.access_proof, proof);
    let items = store.runs().items(&id, None, 10).unwrap().items;
    let deepseek = items.iter().find(|i| i.line_no == 1).unwrap();
    let kimi = items.iter().find(|i| i.line_no == 2).unwrap();
    assert_eq!(deepseek.access_status, AccessStatus::SubscriptionReady);
    assert_eq!(kimi.access_status, AccessStatus::NotConfigured);
    assert!(store
        .runs()
        .events(&deepseek.id)
        .unwrap()
        .iter()
        .any(|e| e.kind == RunItemEventKind::AccessProven));
}

#[test]
fn a_restarted_owner_gets_its_own_leases_back_at_once_and_old_writes_are_fenced() {
    let store = store();
    store
        .runs()
        .create(&new_run("run_owner"), &three_items("run_owner", 90))
        .unwrap();
    let leases = take_all(&store, "server-a");
    assert_eq!(leases.len(), 2);
    assert_eq!(store.runs().release_owner("server-b").unwrap(), 0);
    assert_eq!(store.runs().release_owner("server-a").unwrap(), 2);
    // The old leases are fenced off; the items are due again.
    assert!(matches!(
        store
            .runs()
            .transition_item(&leases[0], RunItemEvent::Succeed),
        Err(StoreError::LeaseLost { .. })
    ));
    assert_eq!(take_all(&store, "server-a").len(), 2);
}
