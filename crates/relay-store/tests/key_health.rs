//! Per-key health records: written in one transaction, replaced per account, read per
//! provider, counted per state; a host text in a failure is scrubbed on the way in.

use relay_domain::{
    HealthPolicy, HostKeyView, KeyFailureCause, KeyHealth, KeyHealthState, KeyObservation,
    Timestamp,
};
use relay_store::{KeyHealthRecord, KeyHealthRepository};

use crate::common::{deepseek, host1, memory_store, pack_cn, seeded};

fn record(account_id: i64, health: KeyHealth) -> KeyHealthRecord {
    KeyHealthRecord {
        host_id: host1(),
        pack_id: pack_cn(),
        provider_id: deepseek(),
        account_id,
        fingerprint: None,
        key_mask: Some("sk-a…ab12".into()),
        health,
    }
}

fn failed(h: Option<&KeyHealth>, at: i64, message: &str) -> KeyHealth {
    KeyHealth::step(
        h,
        HostKeyView::default(),
        KeyObservation::Failed {
            cause: KeyFailureCause::Auth,
            message: Some(message.into()),
        },
        &HealthPolicy::default(),
        Timestamp(at),
    )
    .health
}

#[test]
fn records_round_trip_and_are_replaced_per_account() {
    let store = memory_store();
    seeded(&store);
    let repo = store.key_health();
    assert!(repo
        .list(&host1(), &pack_cn(), &deepseek())
        .unwrap()
        .is_empty());
    let one = failed(None, 1_000, "401 from the vendor");
    let two = KeyHealth::new(Timestamp(1_000));
    repo.put_all(&[record(7, one.clone()), record(3, two.clone())])
        .unwrap();
    let listed = repo.list(&host1(), &pack_cn(), &deepseek()).unwrap();
    assert_eq!(
        listed.iter().map(|r| r.account_id).collect::<Vec<_>>(),
        vec![3, 7]
    );
    assert_eq!(listed[1].health, one);
    assert_eq!(listed[1].key_mask.as_deref(), Some("sk-a…ab12"));

    // A second run replaces the record.
    let again = failed(Some(&one), 2_000, "401 again");
    repo.put_all(&[record(7, again.clone())]).unwrap();
    let got = repo
        .get(&host1(), &pack_cn(), &deepseek(), 7)
        .unwrap()
        .unwrap();
    assert_eq!(got.health, again);
    assert_eq!(got.health.state, KeyHealthState::Failing);
    assert_eq!(got.health.failures.len(), 2);
    assert!(repo
        .get(&host1(), &pack_cn(), &deepseek(), 99)
        .unwrap()
        .is_none());

    let counts = store.key_health().state_counts().unwrap();
    let of = |s: KeyHealthState| counts.iter().find(|c| c.state == s).map_or(0, |c| c.count);
    assert_eq!(of(KeyHealthState::Failing), 1);
    assert_eq!(of(KeyHealthState::Healthy), 1);
    assert_eq!(of(KeyHealthState::DisabledByManager), 0);
}

#[test]
fn a_key_shaped_text_in_a_failure_is_scrubbed() {
    let store = memory_store();
    seeded(&store);
    let key = "sk-0123456789abcdef0123456789abcdef";
    let h = failed(None, 1_000, &format!("Incorrect API key provided: {key}"));
    store.key_health().put_all(&[record(1, h)]).unwrap();
    let got = store
        .key_health()
        .get(&host1(), &pack_cn(), &deepseek(), 1)
        .unwrap()
        .unwrap();
    let message = got.health.failures[0].message.clone().unwrap();
    assert!(!message.contains(key), "{message}");
    assert!(
        message.starts_with("Incorrect API key provided: "),
        "{message}"
    );
}
