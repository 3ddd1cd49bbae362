//! Embedding `relay-reconcile` in another Rust tool: keep a provider true on a
//! sub2api host. The `deepseek` provider of the bundled model pack
//! (`packs/openai-cn-pack`) is imported first (through `relay-provision`, as the
//! application does); then an operator removes an account from its group by hand
//! through the host's admin API. [`reconcile`] finds the difference (the provider
//! is `drifted` and access is broken), and a run with `repair: true` binds the
//! account to its group again and proves access. The host is `sub2api-mock`,
//! started in process on loopback; the ports are the kernel's in-memory fakes.
//!
//! Run with `cargo run -p relay-reconcile --example find_and_repair_drift`.

use std::path::PathBuf;
use std::time::Duration;

use relay_access::AccessClosure;
use relay_core::fakes::{MemoryJournal, MemoryVault, RecordingObserver, TestRandomness};
use relay_core::{JournalScope, Ports, ProbeSettings, ProviderTarget, SystemClock};
use relay_domain::{
    AccessMode, AccessStatus, BatchId, BatchStatus, HostId, ImportMode, PackId, ProviderId,
    ProviderStatus, Secret,
};
use relay_provision::{import, ImportRequest};
use relay_reconcile::{reconcile, ReconcileRequest};
use relay_sub2api::{AccountUpdate, AdminAuth, HostAdapter, HostConfig, Sub2ApiClient};
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
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../packs/openai-cn-pack");
    let pack = relay_pack::load_dir(&dir).expect("the bundled pack loads");
    let target = ProviderTarget::new(
        pack.manifest.pack_id.clone(),
        pack.provider("deepseek").expect("deepseek").clone(),
        Some(client.version().expect("version")),
        client.capabilities().expect("capabilities"),
        &[],
    );

    // One journal for the provider on this host; the import writes through a
    // handle scoped to its batch, reconcile reads it through one without a batch.
    let batch = MemoryJournal::new(JournalScope {
        host_id: HostId::new("host_example"),
        pack_id: PackId::new(target.pack_id.clone()),
        provider_id: ProviderId::new("deepseek"),
        batch_id: Some(BatchId::new("batch_example")),
    });
    let journal = batch.with_batch(None);
    let (vault, random, observer) = (
        MemoryVault::new(),
        TestRandomness::new(),
        RecordingObserver::new(),
    );
    let ports = |journal| Ports {
        adapter: &client,
        journal,
        vault: &vault,
        random: &random,
        observer: &observer,
        clock: &SystemClock,
    };
    let probe = ProbeSettings {
        warmup_window: Duration::from_secs(3),
        ..ProbeSettings::default()
    };

    let mut request = ImportRequest::new(
        Secret::new("sk-example-aaaaaaaaaaaaaaaaaaaaaaaa"),
        ImportMode::Strict,
        AccessMode::Subscription,
    );
    request.probe = probe.clone();
    let imported = import(&ports(&batch), &AccessClosure, &target, &request).expect("import runs");
    assert_eq!(imported.outcome, BatchStatus::Succeeded, "{imported:#?}");
    let account = imported.keys[0].account_id.expect("an account");
    println!(
        "imported: account {account} serves group {}",
        imported.access.group_id
    );

    // Someone removes the account from its group in the host's admin UI.
    client
        .update_account(
            account,
            &AccountUpdate {
                group_ids: Some(vec![]),
                ..AccountUpdate::default()
            },
        )
        .expect("unbind by hand");

    let check = ReconcileRequest {
        probe,
        ..ReconcileRequest::default()
    };
    let found = reconcile(&ports(&journal), &target, &check).expect("reconcile runs");
    println!(
        "reconcile: {} (access {})",
        found.verdict, found.access_status
    );
    for d in &found.differences {
        println!("  {:?}: {}\n    fix: {}", d.kind, d.detail, d.fix);
    }
    assert_eq!(found.verdict, ProviderStatus::Drifted);
    assert_eq!(found.access_status, AccessStatus::Broken);

    let repaired = reconcile(
        &ports(&journal),
        &target,
        &ReconcileRequest {
            repair: true,
            ..check
        },
    )
    .expect("reconcile runs");
    println!(
        "reconcile --repair: {} (access {})",
        repaired.verdict, repaired.access_status
    );
    for r in &repaired.repairs {
        println!("  repaired: {} (ok: {})", r.detail, r.ok);
    }
    assert_eq!(repaired.verdict, ProviderStatus::Active, "{repaired:#?}");
    assert_eq!(repaired.access_status, AccessStatus::SubscriptionReady);
    assert!(repaired.remaining_differences().next().is_none());
}
