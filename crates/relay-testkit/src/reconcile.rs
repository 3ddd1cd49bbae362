//! The reconcile tests' environment: a mock host, an adapter that counts account
//! tests, in-memory ports, a provider imported through the real import use-case,
//! and helpers to change the host "by hand" through its admin API.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use relay_access::AccessClosure;
use relay_core::fakes::{FakeClock, MemoryJournal, MemoryVault, RecordingObserver, TestRandomness};
use relay_core::{
    Clock, JournalScope, Observer, Ports, ProbeRecord, ProbeSettings, ProviderTarget, SystemClock,
    SYSTEM_CLOCK,
};
use relay_domain::{
    AccessMode, BatchId, Fingerprint, HostId, ImportMode, PackId, ProviderId, Secret,
};
use relay_pack::ProviderManifest;
use relay_provision::{import, ImportReport, ImportRequest};
use relay_reconcile::ReconcileRequest;
use relay_sub2api::*;
use serde_json::Value;
use sub2api_mock::{Faults, MockConfig, MockHost};

use crate::{
    assert_no_secrets, client_for, manifest, Instrumented, GOOD_1, GOOD_2, GOOD_3, INVALID, PACK,
    PROVIDER,
};

/// Keeps every probe record.
#[derive(Debug, Default)]
pub struct Probes(Mutex<Vec<ProbeRecord>>);

impl Probes {
    pub fn all(&self) -> Vec<ProbeRecord> {
        self.0.lock().unwrap().clone()
    }
}

impl Observer for Probes {
    fn probe(&self, record: ProbeRecord) {
        self.0.lock().unwrap().push(record);
    }
}

pub struct Env {
    pub host: MockHost,
    pub adapter: Instrumented,
    pub journal: MemoryJournal,
    pub vault: MemoryVault,
    pub random: TestRandomness,
    pub observer: RecordingObserver,
    pub probes: Probes,
    pub provider: ProviderManifest,
    /// The clock of the probes (real unless a test swaps in a [`FakeClock`]).
    pub clock: Arc<dyn Clock>,
}

impl Env {
    pub fn start() -> Env {
        Env::with(manifest(), Faults::default())
    }

    pub fn with(provider: ProviderManifest, faults: Faults) -> Env {
        let host = MockHost::start(MockConfig {
            faults,
            ..MockConfig::default()
        })
        .expect("mock host");
        let inner = client_for(&host.base_url(), host.admin_api_key(), 1);
        Env {
            host,
            adapter: Instrumented::new(inner),
            journal: MemoryJournal::new(JournalScope {
                host_id: HostId::new("host_t"),
                pack_id: PackId(PACK.into()),
                provider_id: ProviderId(PROVIDER.into()),
                batch_id: Some(BatchId::new("batch_1")),
            }),
            vault: MemoryVault::new(),
            random: TestRandomness::new(),
            observer: RecordingObserver::new(),
            probes: Probes::default(),
            provider,
            clock: Arc::new(SystemClock),
        }
    }

    /// Switches the probes to virtual time and returns the clock.
    pub fn virtual_time(&mut self) -> Arc<FakeClock> {
        let clock = Arc::new(FakeClock::new());
        self.clock = clock.clone();
        clock
    }

    /// The host's admin API, for changes "by hand".
    pub fn client(&self) -> &Sub2ApiClient {
        &self.adapter.inner
    }

    pub fn target(&self) -> ProviderTarget {
        let recorded =
            relay_core::Journal::list_provider(&self.provider_journal()).expect("journal");
        ProviderTarget::new(
            PACK,
            self.provider.clone(),
            Some(self.client().version().expect("version")),
            self.client().capabilities().expect("capabilities"),
            &recorded,
        )
    }

    /// The journal handle reconcile uses (no batch).
    pub fn provider_journal(&self) -> MemoryJournal {
        self.journal.with_batch(None)
    }

    pub fn ports<'a>(&'a self, journal: &'a MemoryJournal) -> Ports<'a> {
        Ports {
            adapter: &self.adapter,
            journal,
            vault: &self.vault,
            random: &self.random,
            observer: &self.probes,
            clock: &*self.clock,
        }
    }

    /// Imports `keys` in subscription mode through the real import use-case.
    pub fn import(&self, keys: &[&str]) -> ImportReport {
        self.import_with(keys, ImportMode::Strict, AccessMode::Subscription, None)
    }

    pub fn import_with(
        &self,
        keys: &[&str],
        mode: ImportMode,
        access: AccessMode,
        supplied: Option<&str>,
    ) -> ImportReport {
        let mut r = ImportRequest::new(Secret::new(keys.join("\n")), mode, access);
        r.probe = fast_probe();
        r.supplied_key = supplied.map(Secret::new);
        let ports = Ports {
            adapter: &self.adapter.inner,
            journal: &self.journal,
            vault: &self.vault,
            random: &self.random,
            observer: &self.observer,
            clock: &SYSTEM_CLOCK,
        };
        let report = import(&ports, &AccessClosure, &self.target(), &r).expect("import runs");
        self.adapter.i.tests.store(0, Ordering::SeqCst);
        self.adapter.i.tested.lock().unwrap().clear();
        report
    }

    pub fn list(&self, kind: &str) -> Vec<Value> {
        self.host.state()[kind]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The host account of a key (by the mock's key digest).
    pub fn account_of(&self, key: &str) -> Value {
        let fp = Fingerprint::of(key);
        self.list("accounts")
            .into_iter()
            .find(|a| a["api_key_sha256"] == fp.as_str())
            .expect("account of key")
    }

    /// The host account with this id.
    pub fn account(&self, id: ObjectId) -> Value {
        self.list("accounts")
            .into_iter()
            .find(|a| a["id"] == id)
            .expect("account")
    }

    pub fn account_id(&self, key: &str) -> ObjectId {
        self.account_of(key)["id"].as_i64().unwrap()
    }

    pub fn group_id(&self) -> ObjectId {
        let name = self.target().resource_name(AccessMode::Subscription);
        self.list("groups")
            .into_iter()
            .find(|g| g["name"] == name)
            .and_then(|g| g["id"].as_i64())
            .expect("group")
    }

    pub fn channel_id(&self) -> ObjectId {
        self.list("channels")[0]["id"].as_i64().expect("channel")
    }

    /// Account tests the host served, from its call counters.
    pub fn host_account_tests(&self) -> u64 {
        self.host.state()["counters"]["by_route"]["POST /api/v1/admin/accounts/:id/test"]
            .as_u64()
            .unwrap_or(0)
    }

    pub fn wait_for_responses_probe(&self, id: ObjectId) {
        crate::wait_for_responses_probe(self.client(), id);
    }
}

/// A short warm-up window so failing probes end quickly.
pub fn fast_probe() -> ProbeSettings {
    ProbeSettings {
        warmup_window: Duration::from_secs(2),
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(400),
        repair: true,
        ..ProbeSettings::default()
    }
}

pub fn request() -> ReconcileRequest {
    ReconcileRequest {
        probe: fast_probe(),
        ..ReconcileRequest::default()
    }
}

/// Every secret of the environment: upstream keys, the admin key, the vault's
/// user keys and passwords.
pub fn secrets(env: &Env) -> Vec<String> {
    let mut out: Vec<String> = [GOOD_1, GOOD_2, GOOD_3, INVALID, env.host.admin_api_key()]
        .iter()
        .map(|s| s.to_string())
        .collect();
    use relay_core::SubscriberVault;
    if let Ok(Some(s)) = env.vault.subscriber(relay_core::DEFAULT_PROBE_EMAIL) {
        out.push(s.password.expose().to_string());
        for g in 0..50 {
            if let Ok(Some(k)) = env.vault.user_key(relay_core::DEFAULT_PROBE_EMAIL, g) {
                out.push(k.expose().to_string());
            }
        }
    }
    out
}

pub fn no_secret_in<T: serde::Serialize>(env: &Env, report: &T) -> String {
    let json = serde_json::to_string(report).unwrap();
    let secrets = secrets(env);
    let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
    assert_no_secrets(&json, &refs);
    json
}
