//! The provisioning tests' environment: a mock host, an instrumented adapter,
//! in-memory ports and the test pack's provider.

use std::sync::Arc;
use std::time::Duration;

use relay_access::AccessClosure;
use relay_core::fakes::{FakeClock, MemoryJournal, MemoryVault, RecordingObserver, TestRandomness};
use relay_core::{Clock, JournalScope, Ports, ProbeSettings, ProviderTarget, SystemClock};
use relay_domain::{AccessMode, BatchId, HostId, ImportMode, PackId, ProviderId, Secret};
use relay_pack::ProviderManifest;
use relay_provision::{import, ImportReport, ImportRequest};
use relay_sub2api::*;
use serde_json::Value;
use sub2api_mock::{Faults, MockConfig, MockHost};

use crate::{client_for, manifest, Instrumented, PACK, PROVIDER};

pub struct Env {
    pub host: MockHost,
    pub adapter: Instrumented,
    pub journal: MemoryJournal,
    pub vault: MemoryVault,
    pub random: TestRandomness,
    pub observer: RecordingObserver,
    /// The clock of the probes (real unless a test swaps in a [`FakeClock`]).
    pub clock: Arc<dyn Clock>,
}

impl Env {
    pub fn start() -> Env {
        Env::with_faults(Faults::default())
    }

    pub fn with_faults(faults: Faults) -> Env {
        let host = MockHost::start(MockConfig {
            faults,
            ..MockConfig::default()
        })
        .expect("mock host");
        let inner = client_for(&host.base_url(), host.admin_api_key(), 2);
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
            clock: Arc::new(SystemClock),
        }
    }

    /// Switches the probes to virtual time and returns the clock.
    pub fn virtual_time(&mut self) -> Arc<FakeClock> {
        let clock = Arc::new(FakeClock::new());
        self.clock = clock.clone();
        clock
    }

    pub fn client(&self) -> &Sub2ApiClient {
        &self.adapter.inner
    }

    pub fn ports<'a>(&'a self, journal: &'a MemoryJournal) -> Ports<'a> {
        Ports {
            adapter: &self.adapter,
            journal,
            vault: &self.vault,
            random: &self.random,
            observer: &self.observer,
            clock: &*self.clock,
        }
    }

    pub fn target(&self) -> ProviderTarget {
        self.target_with(manifest())
    }

    pub fn target_with(&self, provider: ProviderManifest) -> ProviderTarget {
        let recorded = relay_core::Journal::list_provider(&self.journal).expect("journal");
        ProviderTarget::new(
            PACK,
            provider,
            Some(self.client().version().expect("version")),
            self.client().capabilities().expect("capabilities"),
            &recorded,
        )
    }

    /// A journal handle on the same entries for another batch.
    pub fn batch(&self, id: &str) -> MemoryJournal {
        self.journal.with_batch(Some(BatchId::new(id)))
    }

    /// The host's objects, without counters and fault knobs.
    pub fn objects(&self) -> Value {
        let mut s = self.host.state();
        let o = s.as_object_mut().unwrap();
        o.remove("counters");
        o.remove("faults");
        o.remove("policy");
        o.remove("limits");
        s
    }

    /// Calls the host served on one admin route (`"POST /api/v1/admin/accounts"`).
    pub fn route_calls(&self, route: &str) -> u64 {
        self.host.state()["counters"]["by_route"][route]
            .as_u64()
            .unwrap_or(0)
    }

    pub fn list(&self, kind: &str) -> Vec<Value> {
        self.host.state()[kind]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub fn import(&self, journal: &MemoryJournal, request: &ImportRequest) -> ImportReport {
        import(
            &self.ports(journal),
            &AccessClosure,
            &self.target(),
            request,
        )
        .expect("import runs")
    }
}

/// A request with a short warm-up window.
pub fn request(keys: &[&str], mode: ImportMode, access: AccessMode) -> ImportRequest {
    let mut r = ImportRequest::new(Secret::new(keys.join("\n")), mode, access);
    r.probe = ProbeSettings {
        warmup_window: Duration::from_secs(3),
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(400),
        repair: true,
        ..ProbeSettings::default()
    };
    r
}
