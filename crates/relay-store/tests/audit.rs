//! The audit trail: append-only on both backends, paged by host, provider, origin
//! and time, and never holding a secret; doctor and access closure records.

use relay_domain::{AuditOrigin, AuditOriginKind, FieldChange, HostId, PackId, ProviderId};
use relay_store::{
    AuditFilter, AuditRepository, NewAuditEvent, NewOperationRecord, OperationKind,
    OperationRepository, StoreError, Timestamp,
};
use rusqlite::Connection;
use serde_json::json;

use crate::common::{deepseek, host1, open_store, pack_cn, seeded, TempDir, KEY_A};

const RAW_KEY: &str = "sk-audit0123456789abcdef0123456789";

fn event(provider: &str, origin: AuditOrigin, operation: &str) -> NewAuditEvent {
    NewAuditEvent {
        host_id: host1(),
        pack_id: Some(pack_cn()),
        provider_id: Some(ProviderId(provider.to_string())),
        origin,
        operation: operation.to_string(),
        object_kind: "channel".into(),
        object_id: Some(7),
        object_name: Some("crm-cn-deepseek-sub".into()),
        error: None,
        changes: vec![FieldChange {
            field: "model_mapping.openai.deepseek-chat".into(),
            before: json!("deepseek-v2"),
            after: json!("deepseek-chat"),
        }],
    }
}

fn reconcile(id: &str) -> AuditOrigin {
    AuditOrigin::new(AuditOriginKind::ReconcileRun, Some(id)).with_request_id(Some("req-1".into()))
}

#[test]
fn events_are_appended_with_their_fields_and_paged_by_filter() {
    let dir = TempDir::new("audit-paging");
    let store = open_store(&dir, Some(KEY_A)).unwrap();
    seeded(&store);
    let batch = AuditOrigin::new(AuditOriginKind::ImportBatch, Some("bat_1"));
    let first = store
        .audit()
        .append(&event("deepseek", batch.clone(), "create"))
        .unwrap();
    assert_eq!(first.outcome, "ok");
    assert_eq!(first.origin, batch);
    assert_eq!(first.object_id, Some(7));
    assert_eq!(first.changes[0].before, json!("deepseek-v2"));
    assert_eq!(first.changes[0].after, json!("deepseek-chat"));
    for i in 0..5 {
        store
            .audit()
            .append(&event(
                "deepseek",
                reconcile("rec_1"),
                &format!("update{i}"),
            ))
            .unwrap();
    }
    let mut refused = event("kimi", reconcile("rec_2"), "delete");
    refused.error = Some("host answered 500".into());
    let refused = store.audit().append(&refused).unwrap();
    assert_eq!(refused.outcome, "error");
    assert!(refused.seq > first.seq);

    // Provider filter, three at a time, oldest first, cursor to cursor.
    let mut filter = AuditFilter {
        provider_id: Some(deepseek()),
        limit: Some(3),
        ..AuditFilter::default()
    };
    let mut seen = Vec::new();
    loop {
        let page = store.audit().list(&filter).unwrap();
        assert!(page.items.len() <= 3);
        seen.extend(page.items.iter().map(|e| e.operation.clone()));
        match page.next_cursor {
            Some(c) => filter.cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(
        seen,
        ["create", "update0", "update1", "update2", "update3", "update4"]
    );
    // Origin filter.
    let by_origin = store
        .audit()
        .list(&AuditFilter {
            origin_kind: Some(AuditOriginKind::ReconcileRun),
            origin_id: Some("rec_2".into()),
            ..AuditFilter::default()
        })
        .unwrap();
    assert_eq!(by_origin.items.len(), 1);
    assert_eq!(
        by_origin.items[0].error.as_deref(),
        Some("host answered 500")
    );
    assert_eq!(by_origin.next_cursor, None);
    // Host and since filters.
    let none = store
        .audit()
        .list(&AuditFilter {
            host_id: Some(HostId::new("host_other")),
            ..AuditFilter::default()
        })
        .unwrap();
    assert!(none.items.is_empty());
    let later = store
        .audit()
        .list(&AuditFilter {
            since: Some(Timestamp(first.at.0 + 3_600_000)),
            ..AuditFilter::default()
        })
        .unwrap();
    assert!(later.items.is_empty());
    let all = store
        .audit()
        .list(&AuditFilter {
            since: Some(first.at),
            ..AuditFilter::default()
        })
        .unwrap();
    assert_eq!(all.items.len(), 7);
    // A cursor that is not one is refused.
    let bad = store.audit().list(&AuditFilter {
        cursor: Some("zz".into()),
        ..AuditFilter::default()
    });
    assert!(matches!(bad, Err(StoreError::InvalidCursor)), "{bad:?}");
}

#[test]
fn the_database_refuses_to_update_or_delete_audit_events() {
    let dir = TempDir::new("audit-append-only");
    let store = open_store(&dir, Some(KEY_A)).unwrap();
    seeded(&store);
    store
        .audit()
        .append(&event("deepseek", reconcile("rec_1"), "update"))
        .unwrap();
    if let Some(url) = crate::common::database_url_for(&dir) {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        for sql in [
            "UPDATE audit_events SET operation = 'x'",
            "DELETE FROM audit_events",
        ] {
            let err = client.execute(sql, &[]).unwrap_err();
            let db = err.as_db_error().expect("a database error");
            assert_eq!(db.message(), "audit_events is append-only", "{sql}");
        }
        let n: i64 = client
            .query_one("SELECT COUNT(*) FROM audit_events", &[])
            .unwrap()
            .get(0);
        assert_eq!(n, 1);
        return;
    }
    drop(store);
    let conn = Connection::open(dir.path().join("relay.db")).unwrap();
    for sql in [
        "UPDATE audit_events SET operation = 'x'",
        "DELETE FROM audit_events",
    ] {
        let err = conn.execute(sql, []).unwrap_err();
        assert!(
            err.to_string().contains("audit_events is append-only"),
            "{sql}: {err}"
        );
    }
    let n: i64 = conn
        .query_row("SELECT COUNT(*) FROM audit_events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
}

#[test]
fn no_secret_reaches_the_audit_table() {
    let dir = TempDir::new("audit-secrets");
    let store = open_store(&dir, Some(KEY_A)).unwrap();
    seeded(&store);
    let mut e = event("deepseek", reconcile("rec_1"), "update");
    e.error = Some(format!("Incorrect API key provided: {RAW_KEY}"));
    e.object_name = Some(format!("named {RAW_KEY}"));
    e.changes.push(FieldChange {
        field: "notes".into(),
        before: json!(null),
        after: json!({ "echo": RAW_KEY }),
    });
    let stored = store.audit().append(&e).unwrap();
    let text = serde_json::to_string(&stored).unwrap();
    assert!(!text.contains(RAW_KEY), "{text}");
    assert!(stored
        .error
        .unwrap()
        .starts_with("Incorrect API key provided: "));
    let listed = store.audit().list(&AuditFilter::default()).unwrap();
    assert!(!serde_json::to_string(&listed.items)
        .unwrap()
        .contains(RAW_KEY));
    if crate::common::database_url_for(&dir).is_none() {
        drop(store);
        for name in ["relay.db", "relay.db-wal"] {
            let bytes = std::fs::read(dir.path().join(name)).unwrap_or_default();
            assert!(
                !bytes
                    .windows(RAW_KEY.len())
                    .any(|w| w == RAW_KEY.as_bytes()),
                "{name} holds the key"
            );
        }
    }
}

#[test]
fn doctor_runs_and_access_closures_are_stored_redacted() {
    let dir = TempDir::new("audit-operations");
    let store = open_store(&dir, Some(KEY_A)).unwrap();
    seeded(&store);
    let doctor = store
        .operations()
        .insert(&NewOperationRecord {
            id: "doc_1".into(),
            kind: OperationKind::Doctor,
            host_id: host1(),
            pack_id: pack_cn(),
            provider_id: deepseek(),
            request_id: Some("req-9".into()),
            asked: json!({ "repair": true }),
            error: None,
            report: Some(json!({ "checks": [{ "detail": format!("echo {RAW_KEY}") }] })),
            started_at: Timestamp::now(),
        })
        .unwrap();
    assert_eq!(doctor.outcome, "succeeded");
    assert!(!doctor.report.unwrap().to_string().contains(RAW_KEY));
    let closure = store
        .operations()
        .insert(&NewOperationRecord {
            id: "acl_1".into(),
            kind: OperationKind::AccessClosure,
            host_id: host1(),
            pack_id: pack_cn(),
            provider_id: deepseek(),
            request_id: None,
            asked: json!({}),
            error: Some("host unreachable".into()),
            report: None,
            started_at: Timestamp::now(),
        })
        .unwrap();
    assert_eq!(closure.outcome, "failed");
    assert_eq!(
        store
            .operations()
            .get(OperationKind::Doctor, "doc_1")
            .unwrap()
            .request_id
            .as_deref(),
        Some("req-9")
    );
    // An id of the other kind is not found.
    assert!(matches!(
        store.operations().get(OperationKind::Doctor, "acl_1"),
        Err(StoreError::NotFound { .. })
    ));
    let listed = store
        .operations()
        .list_for_provider(
            OperationKind::AccessClosure,
            &host1(),
            &PackId("cn".into()),
            &deepseek(),
            10,
        )
        .unwrap();
    assert_eq!(
        listed.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["acl_1"]
    );
}
