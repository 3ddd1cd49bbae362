//! Embedding `relay-core` in another Rust tool: turn one provider of the bundled
//! model pack (`packs/openai-cn-pack`) into a [`ProviderTarget`] for a host, put a
//! group and two accounts on the host from it, and test each account with the
//! kernel's account probe, which classifies the result (SPEC §7.1–§7.2). The flow
//! works through [`Ports`], filled here with the in-memory fakes of
//! [`relay_core::fakes`]; an application implements the same ports over its store.
//! The host is `sub2api-mock`, started in process on loopback.
//!
//! Run with `cargo run -p relay-core --example account_probe`.

use std::path::PathBuf;
use std::time::Duration;

use relay_core::fakes::{FakeClock, MemoryJournal, MemoryVault, RecordingObserver, TestRandomness};
use relay_core::{probe_account, JournalScope, Ports, ProviderTarget};
use relay_domain::{AccessMode, HostId, PackId, ProviderId, Redactor, Secret, Verdict};
use relay_sub2api::{AdminAuth, HostConfig, Sub2ApiClient};
use serde_json::json;
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
    let provider = pack.provider("deepseek").expect("deepseek").clone();

    // The ports of one (host, pack, provider), here all in memory; the clock is
    // virtual, so the waits of a gateway probe would take no real time.
    let journal = MemoryJournal::new(JournalScope {
        host_id: HostId::new("host_example"),
        pack_id: PackId::new(pack.manifest.pack_id.clone()),
        provider_id: ProviderId::new("deepseek"),
        batch_id: None,
    });
    let (vault, random, observer, clock) = (
        MemoryVault::new(),
        TestRandomness::new(),
        RecordingObserver::new(),
        FakeClock::new(),
    );
    let ports = Ports {
        adapter: &client,
        journal: &journal,
        vault: &vault,
        random: &random,
        observer: &observer,
        clock: &clock,
    };

    // The desired state: the platform is chosen from the host version and what the
    // journal recorded of this provider on this host before (nothing yet).
    let target = ProviderTarget::new(
        pack.manifest.pack_id.clone(),
        provider,
        Some(ports.adapter.version().expect("version")),
        ports.adapter.capabilities().expect("capabilities"),
        &ports.journal.list_provider().expect("journal"),
    );
    println!("target: {}", target.platform.explanation());

    let group = ports
        .adapter
        .create_group(&target.new_group(AccessMode::Subscription))
        .expect("group");
    let smoke = &target.provider.smoke_test_model;
    for raw in [
        "sk-example-aaaaaaaaaaaaaaaaaaaaaaaa",
        "sk-invalid-bbbbbbbbbbbbbbbbbbbbbbbb",
    ] {
        let key = Secret::new(raw);
        let account = ports
            .adapter
            .create_account(&target.new_account(&key, group.id, "example"), None)
            .expect("account");
        // Messages relayed from the vendor may quote the key: the redactor knows it.
        let redactor = Redactor::new().with(&key);
        let report = |record| ports.observer.probe(record);
        let probe = probe_account(
            ports.adapter,
            &report,
            account.id,
            smoke,
            &json!({}),
            &redactor,
        );
        println!(
            "account {} ({}): {} {:?}, upstream status {:?}",
            account.id,
            account.name,
            probe.classification.verdict,
            probe.classification.reason,
            probe.http_status
        );
        let expected = if raw.contains("invalid") {
            Verdict::Failed
        } else {
            Verdict::Passed
        };
        assert_eq!(probe.classification.verdict, expected, "{probe:?}");
    }

    // The observer saw every probe (account test and model list per account).
    for record in observer.probes() {
        println!(
            "  probe {:?} {} {}",
            record.kind, record.subject, record.verdict
        );
    }
    assert_eq!(observer.probes().len(), 4);
}
