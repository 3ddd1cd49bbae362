//! Embedding `relay-app` in another Rust tool: open [`App`] over a state store,
//! register a sub2api host, install the bundled model pack (`packs/openai-cn-pack`),
//! import two vendor keys for one of its providers and read the recorded batch.
//! The host is `sub2api-mock`, started in process on loopback, and the store lives
//! in memory, so the example needs no network, no disk and no real host.
//!
//! Run with `cargo run -p relay-app --example import_batch`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use relay_app::{App, AppConfig, HostAuthInput, ImportInput, PackSource, RegisterHost};
use relay_domain::{AccessMode, BatchStatus, ImportMode, Secret};
use relay_store::Store;
use sub2api_mock::{MockConfig, MockHost};

/// Runs the example; `pub` so the crate's tests can run it too.
pub fn main() {
    let host = MockHost::start(MockConfig::default()).expect("start the mock host");

    // The application: one store (SQLite; here in memory) and its tunables. Packs
    // may be installed by path only from `packs_root`.
    let store = Store::open_in_memory().expect("in-memory store");
    let app = Arc::new(App::new(
        store,
        AppConfig {
            warmup_window: Duration::from_secs(10),
            packs_root: Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../packs")),
            ..AppConfig::default()
        },
    ));

    // Registering probes the host: version, capabilities, support status. The admin
    // key is sealed in the store and never shown again.
    let view = app
        .register_host(RegisterHost {
            name: "main".into(),
            base_url: host.base_url(),
            auth: HostAuthInput::ApiKey(Secret::new(host.admin_api_key())),
        })
        .expect("host registered");
    println!(
        "host {} ({}) is {}",
        view.host.name, view.host.id, view.host.status
    );

    let pack = app
        .install_pack(PackSource::Path("openai-cn-pack".into()))
        .expect("pack installed");
    println!(
        "pack {} {} with {} providers",
        pack.pack.pack_id,
        pack.pack.version,
        pack.providers.len()
    );

    // An import runs to the end on this thread (`start_import` runs it on a worker
    // and returns at once). Keys travel as one `Secret`, one key per line.
    let batch = app
        .import(
            "deepseek",
            ImportInput {
                host: "main".into(),
                pack_id: None,
                keys: Secret::new(
                    "sk-example-aaaaaaaaaaaaaaaaaaaaaaaa\nsk-example-bbbbbbbbbbbbbbbbbbbbbbbb",
                ),
                mode: ImportMode::Strict,
                access_mode: AccessMode::Subscription,
                subscribers: Vec::new(),
                validity_days: None,
                subscriber_validity_days: Vec::new(),
                probe_key: None,
                replace_existing: false,
                concurrency: None,
                warmup_window: None,
                balance: None,
            },
        )
        .expect("import runs");

    // The batch view is what the store recorded: keys by fingerprint and mask only,
    // the host objects, the probes and the access proof.
    let b = &batch.batch;
    println!(
        "batch {} {}: {} of {} keys passed",
        b.id, b.status, b.counts.passed, b.counts.total
    );
    for item in &batch.items {
        println!(
            "  key {} {} -> account {:?}",
            item.mask, item.status, item.account_id
        );
    }
    for r in &batch.resources {
        println!(
            "  {} #{} {} ({})",
            r.resource_type,
            r.host_resource_id.unwrap_or_default(),
            r.logical_key,
            r.state
        );
    }
    for proof in &batch.closures {
        println!(
            "  access {} via {:?}: completion {:?}",
            proof.access_status, proof.probe_key_source, proof.completion_status
        );
    }
    assert_eq!(b.status, BatchStatus::Succeeded);
    assert_eq!(b.counts.passed, 2);
    assert_eq!(batch.closures.len(), 1);
    let shown = serde_json::to_string(&batch).expect("the view serialises");
    assert!(!shown.contains("sk-example-aaaa"), "no key in the view");
}
