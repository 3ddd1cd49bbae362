//! Embedding `relay-provision` in another Rust tool: preview, import and roll back
//! two vendor keys for the `deepseek` provider of the bundled model pack
//! (`packs/openai-cn-pack`). The import creates the group, channel, plan and one
//! account per key, tests every account and proves access through
//! `relay-access`'s [`AccessClosure`]; the rollback deletes what the batch created,
//! in reverse order, from the journal. The host is `sub2api-mock`, started in
//! process on loopback; the ports are the kernel's in-memory fakes.
//!
//! Run with `cargo run -p relay-provision --example import_and_rollback`.

use std::path::PathBuf;
use std::time::Duration;

use relay_access::AccessClosure;
use relay_core::fakes::{MemoryJournal, MemoryVault, RecordingObserver, TestRandomness};
use relay_core::{Journal, JournalScope, Ports, ProbeSettings, ProviderTarget, SystemClock};
use relay_domain::{
    AccessMode, BatchId, BatchStatus, HostId, ImportMode, PackId, ProviderId, Secret,
};
use relay_provision::{import, preview, rollback_batch, ImportRequest};
use relay_sub2api::{AdminAuth, HostAdapter, HostConfig, Sub2ApiClient};
use sub2api_mock::{MockConfig, MockHost};

/// Runs the example; `pub` so the crate's tests can run it too.
pub fn main() {
    let host = MockHost::start(MockConfig::default()).expect("start the mock host");
    let client = Sub2ApiClient::new(HostConfig {
        base_url: host.base_url(),
        auth: AdminAuth::ApiKey(Secret::new(host.admin_api_key())),
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(20),
        max_read_retries: 2,
    })
    .expect("a valid host configuration");

    // The journal handle is scoped to (host, pack, provider) and to this batch.
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../packs/openai-cn-pack");
    let pack = relay_pack::load_dir(&dir).expect("the bundled pack loads");
    let batch = BatchId::new("batch_example");
    let journal = MemoryJournal::new(JournalScope {
        host_id: HostId::new("host_example"),
        pack_id: PackId::new(pack.manifest.pack_id.clone()),
        provider_id: ProviderId::new("deepseek"),
        batch_id: Some(batch.clone()),
    });
    let (vault, random, observer) = (
        MemoryVault::new(),
        TestRandomness::new(),
        RecordingObserver::new(),
    );
    let ports = Ports {
        adapter: &client,
        journal: &journal,
        vault: &vault,
        random: &random,
        observer: &observer,
        clock: &SystemClock,
    };
    let target = ProviderTarget::new(
        pack.manifest.pack_id.clone(),
        pack.provider("deepseek").expect("deepseek").clone(),
        Some(client.version().expect("version")),
        client.capabilities().expect("capabilities"),
        &journal.list_provider().expect("journal"),
    );

    let mut request = ImportRequest::new(
        Secret::new("sk-example-aaaaaaaaaaaaaaaaaaaaaaaa\nsk-example-bbbbbbbbbbbbbbbbbbbbbbbb"),
        ImportMode::Strict,
        AccessMode::Subscription,
    );
    request.probe = ProbeSettings {
        warmup_window: Duration::from_secs(10),
        ..ProbeSettings::default()
    };

    // The preview reads the host and writes nothing.
    let plan = preview(&client, &journal, &target, &request.preview_request()).expect("preview");
    for r in &plan.resources {
        println!("plan: {:?} {} {:?}", r.action, r.name, r.resource_type);
    }
    println!("plan: {} new keys", plan.counts.new);
    assert!(host.state()["groups"]
        .as_array()
        .is_some_and(|g| g.is_empty()));

    let report = import(&ports, &AccessClosure, &target, &request).expect("import runs");
    println!(
        "import {}: {} (access {}), {} of {} keys passed",
        report.batch_id,
        report.outcome,
        report.access.status,
        report.counts.passed,
        report.counts.total
    );
    for r in &report.resources {
        println!(
            "  {:?} {} #{} {}",
            r.change, r.resource_type, r.host_id, r.name
        );
    }
    for k in &report.keys {
        println!(
            "  key {} -> account {:?} {}",
            k.mask, k.account_id, k.status
        );
    }
    assert_eq!(report.outcome, BatchStatus::Succeeded, "{report:#?}");

    // Rollback works from the journal alone: every object the batch created goes.
    let rollback = rollback_batch(&client, &journal, &vault, &batch).expect("rollback runs");
    for r in &rollback.deleted {
        println!("  deleted {} #{} {}", r.resource_type, r.host_id, r.name);
    }
    println!("rollback complete: {}", rollback.complete);
    assert!(rollback.complete && rollback.remaining.is_empty());
    assert!(host.state()["accounts"]
        .as_array()
        .is_some_and(|a| a.is_empty()));
}
