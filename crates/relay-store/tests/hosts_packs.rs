//! Hosts, packs and providers: constraints, atomicity and in-use refusals.

use std::collections::BTreeMap;

use crate::common::*;
use relay_domain::{HostId, HostStatus, PackId, ProviderId, ProviderStatus, Secret};
use relay_store::{
    HostAuthKind, HostRepository, InstallRepository, NewCapabilitySnapshot, PackRepository,
    ProviderRepository, StoreError,
};

#[test]
fn host_crud_and_unique_name() {
    let store = crate::common::memory_store();
    let created = store.hosts().create(&new_host("host_a", "alpha")).unwrap();
    assert_eq!(created.name, "alpha");
    assert_eq!(created.status, HostStatus::Supported);
    assert_eq!(created.auth_kind, HostAuthKind::ApiKey);
    assert!(created.last_probe_at.is_none());

    let dup = store
        .hosts()
        .create(&new_host("host_b", "alpha"))
        .unwrap_err();
    match dup {
        StoreError::Conflict { what } => assert!(what.contains("hosts.name"), "{what}"),
        other => panic!("expected Conflict, got {other:?}"),
    }
    let dup_id = store
        .hosts()
        .create(&new_host("host_a", "other"))
        .unwrap_err();
    assert!(dup_id.is_conflict());

    store
        .hosts()
        .create(&new_host("host_c", "charlie"))
        .unwrap();
    let names: Vec<_> = store
        .hosts()
        .list()
        .unwrap()
        .into_iter()
        .map(|h| h.name)
        .collect();
    assert_eq!(names, ["alpha", "charlie"]);

    assert_eq!(
        store.hosts().find_by_name("charlie").unwrap().unwrap().id,
        HostId::new("host_c")
    );
    assert!(store.hosts().find_by_name("nobody").unwrap().is_none());
    assert!(matches!(
        store.hosts().get(&HostId::new("host_zzz")),
        Err(StoreError::NotFound { kind: "host", .. })
    ));

    let updated = store
        .hosts()
        .update_status(
            &HostId::new("host_a"),
            HostStatus::Unreachable,
            Some("0.2.0"),
        )
        .unwrap();
    assert_eq!(updated.status, HostStatus::Unreachable);
    assert_eq!(updated.version.as_deref(), Some("0.2.0"));
    assert!(store
        .hosts()
        .update_status(&HostId::new("nope"), HostStatus::Supported, None)
        .unwrap_err()
        .is_not_found());

    store.hosts().delete(&HostId::new("host_c")).unwrap();
    assert!(store
        .hosts()
        .get(&HostId::new("host_c"))
        .unwrap_err()
        .is_not_found());
    assert!(store
        .hosts()
        .delete(&HostId::new("host_c"))
        .unwrap_err()
        .is_not_found());
}

#[test]
fn login_hosts_need_an_email_and_secrets_round_trip() {
    let store = crate::common::memory_store();
    let mut host = new_host("host_l", "login-host");
    host.auth_kind = HostAuthKind::Login;
    assert!(store.hosts().create(&host).is_err(), "login without e-mail");
    host.admin_email = Some("admin@example.test".into());
    let rec = store.hosts().create(&host).unwrap();
    assert_eq!(rec.admin_email.as_deref(), Some("admin@example.test"));
    assert_eq!(
        store.hosts().admin_secret(&rec.id).unwrap().expose(),
        "admin-secret-of-host_l"
    );
    let updated = store
        .hosts()
        .update_credentials(
            &rec.id,
            HostAuthKind::Login,
            Some("root@example.test"),
            &Secret::new("rotated-password"),
        )
        .unwrap();
    assert_eq!(updated.admin_email.as_deref(), Some("root@example.test"));
    assert_eq!(
        store.hosts().admin_secret(&rec.id).unwrap().expose(),
        "rotated-password"
    );
    // Login without an e-mail is refused and changes nothing.
    assert!(store
        .hosts()
        .update_credentials(&rec.id, HostAuthKind::Login, None, &Secret::new("x"))
        .is_err());
    assert_eq!(
        store.hosts().admin_secret(&rec.id).unwrap().expose(),
        "rotated-password"
    );
    // Switching to an API key drops the e-mail.
    let updated = store
        .hosts()
        .update_credentials(
            &rec.id,
            HostAuthKind::ApiKey,
            Some("ignored@example.test"),
            &Secret::new("admin-new-key"),
        )
        .unwrap();
    assert_eq!(updated.auth_kind, HostAuthKind::ApiKey);
    assert_eq!(updated.admin_email, None);
    assert_eq!(
        store.hosts().admin_secret(&rec.id).unwrap().expose(),
        "admin-new-key"
    );
}

#[test]
fn capability_snapshots_latest_wins_and_update_the_host() {
    let store = crate::common::memory_store();
    seeded(&store);
    assert!(store.hosts().latest_snapshot(&host1()).unwrap().is_none());
    let mut caps = BTreeMap::new();
    caps.insert("groups".to_string(), true);
    caps.insert("plans".to_string(), false);
    store
        .hosts()
        .record_snapshot(
            &host1(),
            &NewCapabilitySnapshot {
                version: Some("0.1.120".into()),
                capabilities: caps.clone(),
                status: HostStatus::Supported,
            },
        )
        .unwrap();
    caps.insert("plans".to_string(), true);
    store
        .hosts()
        .record_snapshot(
            &host1(),
            &NewCapabilitySnapshot {
                version: Some("0.1.121".into()),
                capabilities: caps.clone(),
                status: HostStatus::Unsupported,
            },
        )
        .unwrap();
    let latest = store.hosts().latest_snapshot(&host1()).unwrap().unwrap();
    assert_eq!(latest.capabilities, caps);
    assert_eq!(latest.version.as_deref(), Some("0.1.121"));
    assert_eq!(latest.status, HostStatus::Unsupported);
    let host = store.hosts().get(&host1()).unwrap();
    assert_eq!(host.status, HostStatus::Unsupported);
    assert_eq!(host.version.as_deref(), Some("0.1.121"));
    assert!(host.last_probe_at.is_some());
    assert!(store
        .hosts()
        .record_snapshot(
            &HostId::new("ghost"),
            &NewCapabilitySnapshot {
                version: None,
                capabilities: BTreeMap::new(),
                status: HostStatus::Unreachable,
            },
        )
        .unwrap_err()
        .is_not_found());
}

#[test]
fn packs_install_with_providers_and_find_candidates() {
    let store = crate::common::memory_store();
    let installed = store
        .packs()
        .install(&new_pack("cn", &["deepseek", "kimi"]))
        .unwrap();
    assert_eq!(installed.pack.pack_id, PackId("cn".into()));
    assert_eq!(installed.providers.len(), 2);
    assert!(installed.removed.is_empty());
    store
        .packs()
        .install(&new_pack("intl", &["deepseek"]))
        .unwrap();

    let packs: Vec<_> = store
        .providers()
        .find_by_provider_id(&ProviderId("deepseek".into()))
        .unwrap()
        .into_iter()
        .map(|p| p.pack_id.0)
        .collect();
    assert_eq!(packs, ["cn", "intl"]);
    assert!(store
        .providers()
        .find_by_provider_id(&ProviderId("nobody".into()))
        .unwrap()
        .is_empty());

    let kimi = store
        .providers()
        .get(&pack_cn(), &ProviderId("kimi".into()))
        .unwrap();
    assert_eq!(kimi.manifest["smoke_test_model"], "kimi-chat");
    assert_eq!(kimi.status, ProviderStatus::Installed);
    let by_url = store
        .providers()
        .find_by_base_url("https://api.kimi.example.test/v1")
        .unwrap();
    assert_eq!(by_url.len(), 1);
    assert!(store
        .providers()
        .get(&PackId("intl".into()), &ProviderId("kimi".into()))
        .unwrap_err()
        .is_not_found());

    let listed: Vec<_> = store
        .providers()
        .list_by_pack(&pack_cn())
        .unwrap()
        .into_iter()
        .map(|p| p.provider_id.0)
        .collect();
    assert_eq!(listed, ["deepseek", "kimi"]);
    assert_eq!(store.providers().list().unwrap().len(), 3);
    assert_eq!(store.packs().list().unwrap().len(), 2);

    let set = store
        .providers()
        .set_status(&pack_cn(), &deepseek(), ProviderStatus::Disabled)
        .unwrap();
    assert_eq!(set.status, ProviderStatus::Disabled);
}

#[test]
fn reinstall_updates_and_drops_missing_providers() {
    let store = crate::common::memory_store();
    store
        .packs()
        .install(&new_pack("cn", &["deepseek", "kimi"]))
        .unwrap();
    let mut v2 = new_pack("cn", &["deepseek", "glm"]);
    v2.version = "1.1.0".into();
    let out = store.packs().install(&v2).unwrap();
    assert_eq!(out.pack.version, "1.1.0");
    assert_eq!(out.removed, vec![ProviderId("kimi".into())]);
    let ids: Vec<_> = out.providers.into_iter().map(|p| p.provider_id.0).collect();
    assert_eq!(ids, ["deepseek", "glm"]);
}

#[test]
fn pack_install_is_atomic() {
    let store = crate::common::memory_store();
    // The second `deepseek` fails after the pack row and the first provider were written.
    let bad = new_pack("cn", &["deepseek", "kimi", "deepseek"]);
    assert!(store.packs().install(&bad).unwrap_err().is_conflict());
    assert!(store.packs().find(&pack_cn()).unwrap().is_none());
    assert!(store.providers().list().unwrap().is_empty());

    // A failing re-install leaves the earlier version untouched.
    store
        .packs()
        .install(&new_pack("cn", &["deepseek", "kimi"]))
        .unwrap();
    store.hosts().create(&new_host("host_1", "main")).unwrap();
    store
        .installs()
        .ensure(&host1(), &pack_cn(), &ProviderId("kimi".into()))
        .unwrap();
    let mut v2 = new_pack("cn", &["deepseek"]);
    v2.version = "2.0.0".into();
    match store.packs().install(&v2).unwrap_err() {
        StoreError::InUse { kind, id, .. } => {
            assert_eq!(kind, "provider");
            assert_eq!(id, "cn/kimi");
        }
        other => panic!("expected InUse, got {other:?}"),
    }
    assert_eq!(store.packs().get(&pack_cn()).unwrap().version, "1.0.0");
    assert_eq!(store.providers().list_by_pack(&pack_cn()).unwrap().len(), 2);
}

#[test]
fn pack_delete_refused_while_in_use_then_cascades() {
    let store = crate::common::memory_store();
    seeded(&store);
    store
        .installs()
        .ensure(&host1(), &pack_cn(), &deepseek())
        .unwrap();
    match store.packs().delete(&pack_cn()).unwrap_err() {
        StoreError::InUse {
            kind, references, ..
        } => {
            assert_eq!(kind, "pack");
            assert!(references.contains("1 host installs"), "{references}");
        }
        other => panic!("expected InUse, got {other:?}"),
    }
    // Removing the host removes its installs; then the pack can go, with its providers.
    store.hosts().delete(&host1()).unwrap();
    store.packs().delete(&pack_cn()).unwrap();
    assert!(store.packs().get(&pack_cn()).unwrap_err().is_not_found());
    assert!(store.providers().list().unwrap().is_empty());
    assert!(store.packs().delete(&pack_cn()).unwrap_err().is_not_found());
}
