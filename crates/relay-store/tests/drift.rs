//! The last model-drift check of each provider on each host: replaced by each check,
//! read back whole, gone with its host.

use relay_domain::{ModelListSource, Timestamp};
use relay_store::{DriftCheckRecord, DriftRepository, HostRepository};
use serde_json::json;

use crate::common::{deepseek, host1, memory_store, pack_cn, seeded};

fn check(at: i64, drifted: bool, added: &[&str]) -> DriftCheckRecord {
    DriftCheckRecord {
        host_id: host1(),
        pack_id: pack_cn(),
        provider_id: deepseek(),
        checked_at: Timestamp(at),
        source: ModelListSource::HostSync,
        drifted,
        result: json!({"added": added}),
    }
}

#[test]
fn a_check_replaces_the_last_one_and_reads_back_whole() {
    let store = memory_store();
    seeded(&store);
    let repo = store.drift_checks();
    assert_eq!(repo.get(&host1(), &pack_cn(), &deepseek()).unwrap(), None);
    repo.put(&check(1_000, false, &[])).unwrap();
    let second = DriftCheckRecord {
        source: ModelListSource::DirectProbe,
        ..check(2_000, true, &["deepseek-next"])
    };
    repo.put(&second).unwrap();
    assert_eq!(
        repo.get(&host1(), &pack_cn(), &deepseek()).unwrap(),
        Some(second.clone())
    );
    assert_eq!(repo.list(None).unwrap(), vec![second.clone()]);
    assert_eq!(repo.list(Some(&host1())).unwrap(), vec![second]);
}

#[test]
fn the_checks_of_a_deleted_host_go_with_it() {
    let store = memory_store();
    seeded(&store);
    store
        .drift_checks()
        .put(&check(1_000, true, &["x"]))
        .unwrap();
    store.hosts().delete(&host1()).unwrap();
    assert!(store.drift_checks().list(None).unwrap().is_empty());
}
