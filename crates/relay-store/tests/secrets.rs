//! Sealed secrets at rest: round trips, wrong keys, tampering, and a byte-level
//! proof that no secret reaches the database files.

use crate::common::*;
use relay_domain::{
    AccessMode, AccessStatus, BatchId, Fingerprint, HostId, ImportMode, ItemStatus, KeyPlan, Secret,
};
use relay_store::{
    AccessClosureRepository, BatchRepository, CryptoError, HostRepository, MasterKey,
    NewAccessClosure, NewBatch, NewBatchItem, ProbeKeySource, Sealer, SecretRepository, SecretSlot,
    Store, StoreError, SubscriberRepository,
};
use rusqlite::Connection;
use serde_json::json;

const ADMIN_KEY: &str = "admin-api-key-Zq8vP1mK4tR7wX2c";
const PASSWORD: &str = "subscriber-password-Lm3Nb6Vc9Xz1";
const PROBE_KEY: &str = "sk-user-probe-key-Hj5Kd8Fs2Ga4Qw7e";
const USER_KEY: &str = "sk-custom-user-key-Tt6Yy1Uu3Ii5Oo8p";
const UPSTREAM_KEY: &str = "sk-upstream-vendor-key-Pp9Aa2Ss4Dd6Ff";

#[test]
fn sealer_round_trip_wrong_key_and_tamper() {
    let key = MasterKey::from_base64(KEY_A).unwrap();
    let sealer = Sealer::new(&key);
    let sealed = sealer
        .seal(&Secret::new(ADMIN_KEY), "hosts:host_1:admin_secret")
        .unwrap();
    assert!(!sealed.contains(ADMIN_KEY));
    assert_eq!(
        sealer
            .open(&sealed, "hosts:host_1:admin_secret")
            .unwrap()
            .expose(),
        ADMIN_KEY
    );

    let other = Sealer::new(&MasterKey::from_base64(KEY_B).unwrap());
    let err = other
        .open(&sealed, "hosts:host_1:admin_secret")
        .unwrap_err();
    assert_eq!(
        err,
        CryptoError::UnknownKeyId {
            key_id: sealer.key_id().to_string()
        }
    );
    assert!(!err.to_string().contains(ADMIN_KEY));
    // Claiming the other key's id does not help: authentication fails.
    let forged = sealed.replacen(sealer.key_id(), other.key_id(), 1);
    assert_eq!(
        other
            .open(&forged, "hosts:host_1:admin_secret")
            .unwrap_err(),
        CryptoError::OpenFailed
    );

    // Flip one character of the body.
    let mut chars: Vec<char> = sealed.chars().collect();
    let i = chars.len() / 2;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    let tampered: String = chars.into_iter().collect();
    assert_eq!(
        sealer
            .open(&tampered, "hosts:host_1:admin_secret")
            .unwrap_err(),
        CryptoError::OpenFailed
    );
    // Bound to its row: another host's aad does not open it.
    assert!(sealer.open(&sealed, "hosts:host_2:admin_secret").is_err());
}

#[test]
fn a_secret_moved_to_another_row_does_not_open() {
    let dir = TempDir::new("swap");
    let store = Store::open(dir.path(), Some(KEY_A)).unwrap();
    store.hosts().create(&new_host("host_1", "one")).unwrap();
    store.hosts().create(&new_host("host_2", "two")).unwrap();
    drop(store);
    let conn = Connection::open(dir.path().join("relay.db")).unwrap();
    conn.execute(
        "UPDATE hosts SET admin_secret_sealed =
             (SELECT admin_secret_sealed FROM hosts WHERE id = 'host_1') WHERE id = 'host_2'",
        [],
    )
    .unwrap();
    drop(conn);
    let store = Store::open(dir.path(), Some(KEY_A)).unwrap();
    assert_eq!(
        store
            .hosts()
            .admin_secret(&HostId::new("host_1"))
            .unwrap()
            .expose(),
        "admin-secret-of-host_1"
    );
    let err = store
        .hosts()
        .admin_secret(&HostId::new("host_2"))
        .unwrap_err();
    assert!(matches!(err, StoreError::Crypto(CryptoError::OpenFailed)));
    assert!(!err.to_string().contains("admin-secret-of"));
}

#[test]
fn tampered_column_is_a_typed_error() {
    let dir = TempDir::new("tamper");
    let store = Store::open(dir.path(), Some(KEY_A)).unwrap();
    store.hosts().create(&new_host("host_1", "one")).unwrap();
    drop(store);
    let conn = Connection::open(dir.path().join("relay.db")).unwrap();
    conn.execute(
        "UPDATE hosts SET admin_secret_sealed = substr(admin_secret_sealed, 1, 30)
             || CASE substr(admin_secret_sealed, 31, 1) WHEN 'A' THEN 'B' ELSE 'A' END
             || substr(admin_secret_sealed, 32)",
        [],
    )
    .unwrap();
    drop(conn);
    let store = Store::open(dir.path(), Some(KEY_A)).unwrap();
    assert!(matches!(
        store.hosts().admin_secret(&HostId::new("host_1")),
        Err(StoreError::Crypto(CryptoError::OpenFailed))
    ));
}

#[test]
fn subscribers_and_slots_round_trip() {
    let store = crate::common::memory_store();
    seeded(&store);
    let s = store
        .subscribers()
        .upsert(&host1(), "probe@example.test", &Secret::new(PASSWORD), None)
        .unwrap();
    assert!(s.host_user_id.is_none());
    assert_eq!(
        store.subscribers().password(s.id).unwrap().expose(),
        PASSWORD
    );
    let s2 = store.subscribers().set_host_user_id(s.id, 55).unwrap();
    assert_eq!(s2.host_user_id, Some(55));
    // Upsert by e-mail keeps the row and the host user id, replaces the password.
    let s3 = store
        .subscribers()
        .upsert(
            &host1(),
            "probe@example.test",
            &Secret::new("new-pass"),
            None,
        )
        .unwrap();
    assert_eq!(s3.id, s.id);
    assert_eq!(s3.host_user_id, Some(55));
    assert_eq!(
        store.subscribers().password(s.id).unwrap().expose(),
        "new-pass"
    );
    assert_eq!(store.subscribers().list_by_host(&host1()).unwrap().len(), 1);
    assert!(store
        .subscribers()
        .find_by_email(&host1(), "nobody@example.test")
        .unwrap()
        .is_none());
    // Two subscribers cannot claim the same host user.
    assert!(store
        .subscribers()
        .upsert(&host1(), "other@example.test", &Secret::new("x"), Some(55))
        .unwrap_err()
        .is_conflict());

    let slot = SecretSlot::probe_key(&host1(), &pack_cn(), &deepseek());
    assert!(store.secrets().get(&slot).unwrap().is_none());
    let info = store.secrets().put(&slot, &Secret::new(PROBE_KEY)).unwrap();
    assert_eq!(info.fingerprint, Fingerprint::of(PROBE_KEY));
    assert_eq!(info.mask, relay_domain::mask(PROBE_KEY));
    assert_eq!(
        store.secrets().get(&slot).unwrap().unwrap().expose(),
        PROBE_KEY
    );
    store.secrets().put(&slot, &Secret::new(USER_KEY)).unwrap();
    assert_eq!(
        store.secrets().get(&slot).unwrap().unwrap().expose(),
        USER_KEY
    );
    assert!(store.secrets().delete(&slot).unwrap());
    assert!(!store.secrets().delete(&slot).unwrap());
    assert!(store.secrets().info(&slot).unwrap().is_none());

    // Deleting the host removes its subscribers and their secrets.
    let user_slot = SecretSlot::subscriber_user_key(s.id, "user_key:7");
    store
        .secrets()
        .put(&user_slot, &Secret::new(USER_KEY))
        .unwrap();
    store.secrets().put(&slot, &Secret::new(PROBE_KEY)).unwrap();
    store.hosts().delete(&host1()).unwrap();
    assert!(store.secrets().get(&user_slot).unwrap().is_none());
    assert!(store.secrets().get(&slot).unwrap().is_none());
    assert!(store
        .subscribers()
        .password(s.id)
        .unwrap_err()
        .is_not_found());
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn no_secret_reaches_the_database_files() {
    let dir = TempDir::new("leak");
    let store = crate::common::open_store(&dir, Some(KEY_A)).unwrap();
    seeded(&store);
    let mut host = new_host("host_2", "second");
    host.admin_secret = Secret::new(ADMIN_KEY);
    store.hosts().create(&host).unwrap();
    let sub = store
        .subscribers()
        .upsert(
            &host1(),
            "probe@example.test",
            &Secret::new(PASSWORD),
            Some(9),
        )
        .unwrap();
    store
        .secrets()
        .put(
            &SecretSlot::probe_key(&host1(), &pack_cn(), &deepseek()),
            &Secret::new(PROBE_KEY),
        )
        .unwrap();
    store
        .secrets()
        .put(
            &SecretSlot::subscriber_user_key(sub.id, "user_key:7"),
            &Secret::new(USER_KEY),
        )
        .unwrap();
    // An upstream key is only ever recorded as fingerprint and mask.
    store
        .batches()
        .create(
            &NewBatch {
                id: BatchId::new("batch_1"),
                host_id: host1(),
                pack_id: pack_cn(),
                provider_id: deepseek(),
                mode: ImportMode::Strict,
                access_mode: AccessMode::SelfService,
                request: json!({"keys": [relay_domain::mask(UPSTREAM_KEY)]}),
            },
            &[NewBatchItem {
                seq: 1,
                fingerprint: Fingerprint::of(UPSTREAM_KEY),
                mask: relay_domain::mask(UPSTREAM_KEY),
                plan: KeyPlan::New,
                status: ItemStatus::Pending,
                account_id: None,
            }],
        )
        .unwrap();
    store
        .closures()
        .insert(&NewAccessClosure {
            host_id: host1(),
            pack_id: pack_cn(),
            provider_id: deepseek(),
            batch_id: Some(BatchId::new("batch_1")),
            reconcile_run_id: None,
            mode: AccessMode::SelfService,
            probe_key_source: ProbeKeySource::SuppliedKey,
            probe_key_fingerprint: Some(Fingerprint::of(PROBE_KEY)),
            probe_key_mask: Some(relay_domain::mask(PROBE_KEY)),
            models_status: Some(200),
            expected_model_seen: true,
            completion_status: Some(200),
            completion_type: Some("chat.completion".into()),
            completion_preview: Some("pong".into()),
            access_status: AccessStatus::SelfServiceReady,
            message: None,
            details: json!({}),
        })
        .unwrap();

    // The secrets are really stored (they open) …
    assert_eq!(
        store
            .hosts()
            .admin_secret(&HostId::new("host_2"))
            .unwrap()
            .expose(),
        ADMIN_KEY
    );
    assert_eq!(
        store.subscribers().password(sub.id).unwrap().expose(),
        PASSWORD
    );

    let check_text = |text: &str, what: &str| {
        for s in [ADMIN_KEY, PASSWORD, PROBE_KEY, USER_KEY, UPSTREAM_KEY] {
            assert!(!text.contains(s), "{what} contains a secret");
        }
    };
    if let Some(url) = crate::common::database_url_for(&dir) {
        // … while no row of any table of the PostgreSQL schema holds one of them.
        let rows = relay_store::schemas::postgres_rows(&url).unwrap();
        let all: String = rows.iter().map(|(_, row)| format!("{row}\n")).collect();
        // Sanity: a value that is stored in clear is found by the same search.
        assert!(all.contains("probe@example.test"));
        check_text(&all, "the PostgreSQL schema");
        return;
    }

    // … while the files hold none of them: the database and its WAL, before and
    // after a checkpoint.
    let db = dir.path().join("relay.db");
    let wal = dir.path().join("relay.db-wal");
    let wal_bytes = std::fs::read(&wal).unwrap();
    assert!(!wal_bytes.is_empty(), "writes should sit in the WAL");
    let check = |bytes: &[u8], what: &str| {
        for s in [ADMIN_KEY, PASSWORD, PROBE_KEY, USER_KEY, UPSTREAM_KEY] {
            assert!(!contains(bytes, s), "{what} contains a secret");
        }
    };
    // Sanity: a value that is stored in clear is found by the same search.
    assert!(contains(&wal_bytes, "probe@example.test"));
    check(&wal_bytes, "relay.db-wal");
    check(&std::fs::read(&db).unwrap(), "relay.db");
    drop(store);
    let conn = Connection::open(&db).unwrap();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    drop(conn);
    let db_bytes = std::fs::read(&db).unwrap();
    assert!(contains(&db_bytes, "probe@example.test"));
    check(&db_bytes, "relay.db after checkpoint");
    if let Ok(bytes) = std::fs::read(&wal) {
        check(&bytes, "relay.db-wal after checkpoint");
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_secret_round_trips_and_never_shows(value in "[ -~]{8,64}", aad in "[a-z:_0-9]{1,40}") {
            let sealer = Sealer::new(&MasterKey::from_base64(KEY_A).unwrap());
            let sealed = sealer.seal(&Secret::new(value.clone()), &aad).unwrap();
            let prefix = format!("v2:{}:", sealer.key_id());
            prop_assert!(sealed.starts_with(&prefix));
            prop_assert!(!sealed.contains(&value));
            let opened = sealer.open(&sealed, &aad).unwrap();
            prop_assert_eq!(opened.expose(), value.as_str());
            let other_aad = format!("{aad}x");
            prop_assert_eq!(sealer.open(&sealed, &other_aad).unwrap_err(), CryptoError::OpenFailed);
        }
    }
}
