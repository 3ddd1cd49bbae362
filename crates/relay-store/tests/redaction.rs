//! The store's redaction step: every text column written passes through the secrets
//! the store knows and the key patterns; migration 3 scrubs the texts older versions
//! wrote, and leaves no copy in the database files.

use crate::common::{deepseek, host1, new_host, pack_cn, seeded, TempDir, KEY_A};
use relay_domain::{
    mask, AccessMode, AccessStatus, BatchId, Fingerprint, ImportMode, ItemStatus, KeyPlan,
    ProviderEvent, ProviderStatus, ReconcileRunId, ResourceType, Secret, Verdict,
};
use relay_store::{
    migrate, AccessClosureRepository, BatchRepository, HostRepository, InstallRepository,
    ItemUpdate, NewAccessClosure, NewBatch, NewBatchItem, NewProbeResult, NewReconcileRun,
    NewResource, ProbeKeySource, ProbeKind, ProbeRepository, ReconcileOutcome, ReconcileRepository,
    ReconcileStatus, ReconcileTrigger, ResourceRepository, SecretRepository, SecretSlot, Store,
    SubscriberRepository,
};
use rusqlite::Connection;
use serde_json::json;

const UPSTREAM: &str = "sk-0957beb1f3bdf4a9ee786475a5a168d9";
const ADMIN: &str = "admin-8a75c1e2b3d4f5a6978812345678901234567890abcdefabcdefabcdef0199c2";
const PASSWORD: &str = "crm-476a3c4ae426f70c38f498a95be880817981ea84";
const USER_KEY: &str = "sk-crm-ce4de7ec0123456789abcdef0123456789abcdef01234567";
const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoyM30.c2lnbmF0dXJl";
/// Secrets of no known shape: only the store's knowledge of them masks them.
const SHAPELESS_ADMIN: &str = "admin-secret-of-host_1";
const SHAPELESS_PASSWORD: &str = "correct horse battery staple";
const SHAPELESS_KEY: &str = "user-key-without-any-known-shape-7";
const OPERATOR_TOKEN: &str = "operator-token-without-shape-99";

/// A text quoting every secret of this file.
fn chatty() -> String {
    format!(
        "host said: api_key {UPSTREAM} refused for x-api-key={ADMIN} (Bearer {JWT}); \
         password {PASSWORD} / {SHAPELESS_PASSWORD}; user key {USER_KEY} / {SHAPELESS_KEY}; \
         admin {SHAPELESS_ADMIN}; operator {OPERATOR_TOKEN}"
    )
}

const ALL: &[&str] = &[
    UPSTREAM,
    ADMIN,
    PASSWORD,
    USER_KEY,
    JWT,
    SHAPELESS_ADMIN,
    SHAPELESS_PASSWORD,
    SHAPELESS_KEY,
    OPERATOR_TOKEN,
];

fn assert_clean(what: &str, text: &str) {
    for s in ALL {
        assert!(!text.contains(s), "{what}: {s} leaked in {text}");
    }
}

#[test]
fn every_writer_redacts_known_and_key_shaped_secrets() {
    let store = crate::common::memory_store();
    seeded(&store); // seals the host's admin secret: the store knows it now
    let sub = store
        .subscribers()
        .upsert(
            &host1(),
            "bob@example.com",
            &Secret::new(SHAPELESS_PASSWORD),
            None,
        )
        .unwrap();
    store
        .secrets()
        .put(
            &SecretSlot::subscriber_user_key(sub.id, "user_key:9"),
            &Secret::new(SHAPELESS_KEY),
        )
        .unwrap();
    store.remember_secret(&Secret::new(OPERATOR_TOKEN));
    let text = chatty();

    let batch = BatchId::new("batch_1");
    let fp = Fingerprint::of(UPSTREAM);
    store
        .batches()
        .create(
            &NewBatch {
                id: batch.clone(),
                host_id: host1(),
                pack_id: pack_cn(),
                provider_id: deepseek(),
                mode: ImportMode::Partial,
                access_mode: AccessMode::Subscription,
                request: json!({"note": text}),
            },
            &[NewBatchItem {
                seq: 1,
                fingerprint: fp.clone(),
                mask: mask(UPSTREAM),
                plan: KeyPlan::New,
                status: ItemStatus::Pending,
                account_id: None,
            }],
        )
        .unwrap();
    let b = store
        .batches()
        .set_report(
            &batch,
            &json!({"warnings": [text], text.clone(): 1}),
            Some(&text),
        )
        .unwrap();
    assert_clean("batch request", &b.request.to_string());
    assert_clean("batch report", &b.report.clone().unwrap().to_string());
    assert_clean("batch error", b.error.as_deref().unwrap());
    assert!(b.error.unwrap().contains(&mask(SHAPELESS_ADMIN)));

    let item = store
        .batches()
        .update_item(
            &batch,
            &fp,
            &ItemUpdate {
                status: Some(ItemStatus::Failed),
                account_id: None,
                verdict: Some(Verdict::Failed),
                message: Some(text.clone()),
                details: Some(json!({"host": text})),
            },
        )
        .unwrap();
    assert_clean("item message", item.message.as_deref().unwrap());
    assert_clean("item details", &item.details.to_string());

    store
        .installs()
        .ensure(&host1(), &pack_cn(), &deepseek())
        .unwrap();
    let install = store
        .installs()
        .apply_event(
            &host1(),
            &pack_cn(),
            &deepseek(),
            ProviderEvent::Fail,
            Some(&text),
        )
        .unwrap();
    assert_eq!(install.status, ProviderStatus::Failed);
    assert_clean("install status", install.status_message.as_deref().unwrap());

    let r = store
        .resources()
        .record_intent(&NewResource {
            host_id: host1(),
            pack_id: pack_cn(),
            provider_id: deepseek(),
            batch_id: Some(batch.clone()),
            resource_type: ResourceType::Account,
            logical_key: "deepseek-0957beb1".into(),
            fingerprint: Some(fp.clone()),
            details: json!({"host_message": text}),
        })
        .unwrap();
    assert_clean("journal intent", &r.details.to_string());
    let r = store
        .resources()
        .set_details(r.id, &json!({"later": text}))
        .unwrap();
    assert_clean("journal details", &r.details.to_string());

    let p = store
        .probes()
        .insert(&NewProbeResult {
            host_id: host1(),
            pack_id: Some(pack_cn()),
            provider_id: Some(deepseek()),
            batch_id: Some(batch.clone()),
            reconcile_run_id: None,
            kind: ProbeKind::AccountTest,
            subject: format!("key:{UPSTREAM}"),
            outcome: Verdict::Failed,
            http_status: Some(401),
            message: Some(text.clone()),
            duration_ms: None,
            details: json!({"m": text}),
        })
        .unwrap();
    assert_clean(
        "probe",
        &format!("{} {:?} {}", p.subject, p.message, p.details),
    );

    let c = store
        .closures()
        .insert(&NewAccessClosure {
            host_id: host1(),
            pack_id: pack_cn(),
            provider_id: deepseek(),
            batch_id: Some(batch.clone()),
            reconcile_run_id: None,
            mode: AccessMode::Subscription,
            probe_key_source: ProbeKeySource::ManagedSubscription,
            probe_key_fingerprint: None,
            probe_key_mask: None,
            models_status: Some(401),
            expected_model_seen: false,
            completion_status: Some(401),
            completion_type: Some(text.clone()),
            completion_preview: Some(text.clone()),
            access_status: AccessStatus::Broken,
            message: Some(text.clone()),
            details: json!({"d": text}),
        })
        .unwrap();
    assert_clean(
        "closure",
        &format!(
            "{:?} {:?} {:?} {}",
            c.completion_type, c.completion_preview, c.message, c.details
        ),
    );

    let run = ReconcileRunId::new("rec_1");
    store
        .reconcile_runs()
        .start(&NewReconcileRun {
            id: run.clone(),
            host_id: host1(),
            pack_id: pack_cn(),
            provider_id: deepseek(),
            batch_id: None,
            trigger: ReconcileTrigger::Manual,
        })
        .unwrap();
    let done = store
        .reconcile_runs()
        .finish(
            &run,
            &ReconcileOutcome {
                status: ReconcileStatus::Failed,
                verdict: None,
                access_status: None,
                differences: json!([{"detail": text}]),
                repairs: json!([{"error": text}]),
                error: Some(text.clone()),
                report: Some(json!({"accounts": [{"message": text}]})),
            },
        )
        .unwrap();
    assert_clean(
        "reconcile run",
        &format!(
            "{} {} {:?} {:?}",
            done.differences, done.repairs, done.error, done.report
        ),
    );
}

#[test]
fn the_store_learns_the_secrets_it_opens() {
    let dir = TempDir::new("learns");
    let store = crate::common::open_store(&dir, Some(KEY_A)).unwrap();
    seeded(&store);
    drop(store);
    // A fresh process: it has sealed nothing yet, so it knows only what it opens.
    let store = crate::common::open_store(&dir, Some(KEY_A)).unwrap();
    assert_eq!(store.redactor().known_secrets(), 0);
    assert_eq!(
        store.hosts().admin_secret(&host1()).unwrap().expose(),
        SHAPELESS_ADMIN
    );
    assert!(store.redactor().knows(SHAPELESS_ADMIN));
    store.hosts().create(&new_host("host_2", "second")).unwrap();
    assert!(store.redactor().knows("admin-secret-of-host_2"));
    if store.dialect() == relay_store::Dialect::Sqlite {
        let pragmas = store.writer_pragmas().unwrap();
        assert!(pragmas.secure_delete, "{pragmas:?}");
        assert!(store.reader_pragmas().unwrap().secure_delete);
    }
}

/// Builds a version-2 database (the schema before migration 3) holding `text` in
/// every column migration 3 scrubs, as an older version wrote it.
fn old_database(path: &std::path::Path, text: &str) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(
        "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at INTEGER NOT NULL);",
    )
    .unwrap();
    for m in &migrate::MIGRATIONS[..2] {
        conn.execute_batch(m.sql).unwrap();
        conn.execute(
            "INSERT INTO schema_version (version, description, applied_at) VALUES (?1, ?2, 0)",
            rusqlite::params![m.version, m.description],
        )
        .unwrap();
    }
    let j = json!({"warnings": [text], "nested": {"message": text}}).to_string();
    let fp = Fingerprint::of(UPSTREAM);
    conn.execute_batch(&format!(
        "INSERT INTO hosts (id, name, base_url, auth_kind, admin_secret_sealed, status, created_at, updated_at)
             VALUES ('host_1', 'main', 'https://main.example.test', 'api_key', 'v1:AAAA', 'supported', 0, 0);
         INSERT INTO packs (pack_id, version, name, host_compat, source_digest, source_kind, source_path, installed_at, updated_at)
             VALUES ('cn', '1.0.0', 'Pack cn', '>=0.1.0', '{d}', 'dir', '/packs/cn', 0, 0);
         INSERT INTO providers (pack_id, provider_id, display_name, base_url, manifest, status, created_at, updated_at)
             VALUES ('cn', 'deepseek', 'DeepSeek', 'https://api.deepseek.com/v1', '{{}}', 'installed', 0, 0);",
        d = "ab".repeat(32)
    ))
    .unwrap();
    let p = rusqlite::params![text, j, fp.as_str()];
    conn.execute(
        "INSERT INTO import_batches (id, host_id, pack_id, provider_id, mode, access_mode, status, request, report, error, created_at, updated_at)
         VALUES ('batch_1', 'host_1', 'cn', 'deepseek', 'strict', 'subscription', 'failed', ?2, ?2, ?1, 0, 0)",
        &p[..2],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO import_batch_items (batch_id, seq, fingerprint, mask, plan, status, message, details, created_at, updated_at)
         VALUES ('batch_1', 1, ?3, 'sk-0…68d9', 'new', 'failed', ?1, ?2, 0, 0)",
        p,
    )
    .unwrap();
    conn.execute(
        "INSERT INTO provider_installs (host_id, pack_id, provider_id, status, status_message, created_at, updated_at)
         VALUES ('host_1', 'cn', 'deepseek', 'failed', ?1, 0, 0)",
        [text],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO managed_resources (host_id, pack_id, provider_id, batch_id, resource_type, logical_key, state, details, created_at, updated_at)
         VALUES ('host_1', 'cn', 'deepseek', 'batch_1', 'account', 'deepseek-0957beb1', 'intent', ?1, 0, 0)",
        [&j],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO reconcile_runs (id, host_id, pack_id, provider_id, trigger, status, differences, repairs, error, report, started_at)
         VALUES ('rec_1', 'host_1', 'cn', 'deepseek', 'manual', 'failed', ?2, ?2, ?1, ?2, 0)",
        &p[..2],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO probe_results (host_id, batch_id, kind, subject, outcome, message, details, at)
         VALUES ('host_1', 'batch_1', 'account_test', ?1, 'failed', ?1, ?2, 0)",
        &p[..2],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO access_closure_records (host_id, pack_id, provider_id, mode, probe_key_source, expected_model_seen,
                                            completion_type, completion_preview, access_status, message, details, at)
         VALUES ('host_1', 'cn', 'deepseek', 'subscription', 'managed_subscription', 0, ?1, ?1, 'broken', ?1, ?2, 0)",
        &p[..2],
    )
    .unwrap();
}

/// Every column migration 3 scrubs, read back as text.
fn stored_texts(conn: &Connection) -> String {
    let queries = [
        "SELECT request || report || error FROM import_batches",
        "SELECT message || details FROM import_batch_items",
        "SELECT status_message FROM provider_installs",
        "SELECT details FROM managed_resources",
        "SELECT differences || repairs || error || report FROM reconcile_runs",
        "SELECT subject || message || details FROM probe_results",
        "SELECT completion_type || completion_preview || message || details FROM access_closure_records",
    ];
    let mut out = String::new();
    for q in queries {
        let v: String = conn.query_row(q, [], |r| r.get(0)).unwrap();
        out.push_str(&v);
        out.push('\n');
    }
    out
}

#[test]
fn migration_3_scrubs_texts_older_versions_wrote_and_leaves_no_copy_in_the_files() {
    let dir = TempDir::new("scrub-migration");
    let db = dir.path().join("relay.db");
    // Key-shaped secrets only: the migration knows no secret, it runs the patterns.
    let text = format!(
        "account validation failed: api_key {UPSTREAM} is not accepted; caller x-api-key={ADMIN}; \
         password {PASSWORD} is too weak; user key {USER_KEY}; session Bearer {JWT}"
    );
    old_database(&db, &text);
    let before = std::fs::read(&db).unwrap();
    assert!(
        before
            .windows(UPSTREAM.len())
            .any(|w| w == UPSTREAM.as_bytes()),
        "the old database holds the key in clear"
    );

    let store = Store::open(dir.path(), Some(KEY_A)).unwrap();
    assert_eq!(store.schema_version().unwrap(), migrate::latest_version());
    let b = store.batches().get(&BatchId::new("batch_1")).unwrap();
    assert!(b.error.as_deref().unwrap().contains(&mask(UPSTREAM)));
    assert!(b.error.as_deref().unwrap().contains("is too weak"));
    assert_eq!(
        b.report.as_ref().unwrap()["nested"]["message"],
        json!(b.error.clone().unwrap())
    );
    drop(store);

    let conn = Connection::open(&db).unwrap();
    let texts = stored_texts(&conn);
    for s in [UPSTREAM, ADMIN, PASSWORD, USER_KEY, JWT] {
        assert!(!texts.contains(s), "{s} survived the migration: {texts}");
    }
    assert!(texts.contains(&mask(ADMIN)));
    drop(conn);

    for name in ["relay.db", "relay.db-wal", "relay.db-shm"] {
        let path = dir.path().join(name);
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        for s in [UPSTREAM, ADMIN, PASSWORD, USER_KEY, JWT] {
            assert!(
                !bytes.windows(s.len()).any(|w| w == s.as_bytes()),
                "{s} is still in {name}"
            );
        }
    }
}

#[test]
fn a_version_2_database_gets_migration_3_and_later() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at INTEGER NOT NULL);",
    )
    .unwrap();
    for m in &migrate::MIGRATIONS[..2] {
        conn.execute_batch(m.sql).unwrap();
        conn.execute(
            "INSERT INTO schema_version (version, description, applied_at) VALUES (?1, ?2, 0)",
            rusqlite::params![m.version, m.description],
        )
        .unwrap();
    }
    assert_eq!(
        migrate::migrate(&mut conn).unwrap(),
        vec![3, 4, 5, 6, 7, 8, 9, 10]
    );
    assert!(migrate::rust_step(3).is_some());
    assert!(migrate::rust_step(4).is_none());
    assert!(migrate::rust_step(2).is_none());
}
