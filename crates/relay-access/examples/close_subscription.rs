//! Embedding `relay-access` in another Rust tool: prove that an ordinary user can
//! call a provider's model through a sub2api host. A subscription-type group with
//! one vendor account is put on the host first (from the bundled pack's `deepseek`
//! provider, as an import would); [`close_access`] then creates the managed probe
//! subscriber, subscribes it to the group, obtains its user key and runs the
//! completion-gated gateway probe with that key. The host is `sub2api-mock`,
//! started in process on loopback; the ports are the kernel's in-memory fakes.
//!
//! Run with `cargo run -p relay-access --example close_subscription`.

use std::path::PathBuf;
use std::time::Duration;

use relay_access::close_access;
use relay_core::fakes::{MemoryJournal, MemoryVault, RecordingObserver, TestRandomness};
use relay_core::{
    AccessPlan, JournalScope, Ports, ProbeSettings, ProviderTarget, SubscriptionAccess, SystemClock,
};
use relay_domain::{AccessMode, AccessStatus, HostId, PackId, ProviderId, Secret};
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

    // The group to prove access to: a subscription group with one working account.
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../packs/openai-cn-pack");
    let pack = relay_pack::load_dir(&dir).expect("the bundled pack loads");
    let provider = pack.provider("deepseek").expect("deepseek").clone();
    let target = ProviderTarget::new(
        pack.manifest.pack_id.clone(),
        provider,
        Some(client.version().expect("version")),
        client.capabilities().expect("capabilities"),
        &[],
    );
    let group = client
        .create_group(&target.new_group(AccessMode::Subscription))
        .expect("group");
    let vendor_key = Secret::new("sk-example-aaaaaaaaaaaaaaaaaaaaaaaa");
    client
        .create_account(&target.new_account(&vendor_key, group.id, "example"), None)
        .expect("account");

    // The ports: every host object the closure creates is journaled, the managed
    // subscriber's password and user key are sealed in the vault.
    let journal = MemoryJournal::new(JournalScope {
        host_id: HostId::new("host_example"),
        pack_id: PackId::new(target.pack_id.clone()),
        provider_id: ProviderId::new("deepseek"),
        batch_id: None,
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

    let plan = AccessPlan {
        group_id: group.id,
        subscription: Some(SubscriptionAccess::new(
            target.plan_validity_days(),
            target.notes(),
            target.key_name(AccessMode::Subscription),
        )),
        supplied_key: None,
        probe: ProbeSettings {
            warmup_window: Duration::from_secs(10),
            ..ProbeSettings::new(target.provider.smoke_test_model.clone())
        },
    };
    let report = close_access(&ports, &plan).expect("journal and vault work");

    println!(
        "group {} ({}): access {}",
        group.id, group.name, report.status
    );
    let detail = report
        .subscription_detail
        .as_ref()
        .expect("subscription closure ran");
    for s in &detail.subscribers {
        println!(
            "  subscriber {} (user {:?}, created {}): subscription {:?}, key {}",
            s.subscriber,
            s.user_id,
            s.user_created,
            s.subscription_id,
            s.key_mask.as_deref().unwrap_or("-")
        );
    }
    let proof = detail.proof.as_ref().expect("the gateway was probed");
    println!(
        "  proof: key {} ({:?}); /v1/models {:?} lists {}: {}; completion {:?} {}",
        proof.key_mask,
        proof.key_source,
        proof.models_status,
        proof.smoke_model,
        proof.smoke_model_seen,
        proof.completion_status,
        proof.completion_preview.as_deref().unwrap_or("")
    );
    for entry in journal.entries() {
        println!(
            "  journaled {} {} ({})",
            entry.resource_type, entry.logical_key, entry.state
        );
    }
    assert_eq!(
        report.status,
        AccessStatus::SubscriptionReady,
        "{report:#?}"
    );
    assert!(proof.smoke_model_seen && proof.completion_ok);
    assert_eq!(vault.key_count(), 1);
}
