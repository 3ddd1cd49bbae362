//! Shared set-up: a mock host, an `App` over an in-memory store with the host
//! registered and the bundled pack installed.

use relay_app::{App, AppConfig, BatchView, HostAuthInput, ImportInput, PackSource, RegisterHost};
use relay_domain::{AccessMode, BatchStatus, ImportMode, PackId, ProviderId, Secret};
use relay_store::{InstallRepository, ProviderInstallRecord, Store};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use sub2api_mock::{Faults, MockConfig, MockHost};

/// Keys the mock accepts (their account tests pass).
pub const KEY_A: &str = "sk-test-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
pub const KEY_B: &str = "sk-test-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
/// A key the mock refuses (its account test answers 401).
pub const KEY_BAD: &str = "sk-invalid-cccccccccccccccccccccccc";
/// The provider imported in these tests (bundled pack `openai-cn-pack`).
pub const PROVIDER: &str = "deepseek";

pub struct Env {
    pub mock: MockHost,
    /// The application's store (a clone: same database).
    pub store: Store,
    pub app: Arc<App>,
}

pub fn config() -> AppConfig {
    AppConfig {
        warmup_window: Duration::from_secs(10),
        import_concurrency: 4,
        packs_root: Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../packs")),
        // Short leases: a holder proves its lease against the database every
        // 200 ms of work, so a taken-over holder is fenced off within the tests.
        lease_ttl: Duration::from_millis(600),
        ..AppConfig::default()
    }
}

impl Env {
    pub fn start() -> Env {
        Env::with_faults(Faults::default())
    }

    pub fn with_faults(faults: Faults) -> Env {
        let mock = MockHost::start(MockConfig {
            faults,
            ..MockConfig::default()
        })
        .expect("mock host");
        let store = test_store();
        let app = Arc::new(App::new(store.clone(), config()));
        app.register_host(RegisterHost {
            name: "main".into(),
            base_url: mock.base_url(),
            auth: HostAuthInput::ApiKey(Secret::new(mock.admin_api_key())),
        })
        .expect("host registered");
        app.install_pack(PackSource::Path("openai-cn-pack".into()))
            .expect("pack installed");
        Env { mock, store, app }
    }

    /// The host's objects an import creates (no counters, no fault knobs).
    pub fn host_objects(&self) -> Value {
        let s = self.mock.state();
        json!({
            "groups": s["groups"], "channels": s["channels"], "plans": s["plans"],
            "accounts": s["accounts"], "subscriptions": s["subscriptions"],
            "api_keys": s["api_keys"], "users": s["users"],
        })
    }

    /// The host's objects of one kind.
    pub fn objects(&self, kind: &str) -> Vec<Value> {
        self.mock.state()[kind]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Host calls the application made for one adapter operation.
    pub fn host_calls(&self, operation: &str) -> u64 {
        self.app.metrics().host_call_count(operation)
    }

    /// The install of the provider on host `main`.
    pub fn install(&self) -> ProviderInstallRecord {
        let host = self.app.resolve_host("main").expect("host");
        self.store
            .installs()
            .find(
                &host.id,
                &PackId("openai-cn-pack".into()),
                &ProviderId(PROVIDER.into()),
            )
            .expect("store")
            .expect("the provider is installed on the host")
    }

    /// Waits until the batch is no longer `running`.
    pub fn wait_finished(&self, batch_id: &str) -> BatchView {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let view = self.app.batch_view(batch_id).expect("batch view");
            if view.batch.status != BatchStatus::Running {
                return view;
            }
            assert!(Instant::now() < deadline, "batch {batch_id} did not finish");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A subscription import of `keys` on host `main`.
pub fn input(keys: &[&str], mode: ImportMode) -> ImportInput {
    ImportInput {
        host: "main".into(),
        pack_id: None,
        keys: Secret::new(keys.join("\n")),
        mode,
        access_mode: AccessMode::Subscription,
        subscribers: Vec::new(),
        validity_days: None,
        subscriber_validity_days: Vec::new(),
        probe_key: None,
        replace_existing: false,
        concurrency: None,
        warmup_window: None,
        balance: None,
    }
}

/// A fresh store on the backend under test: SQLite in memory, or a new schema of
/// the PostgreSQL database of `RELAY_TEST_DATABASE_URL` (set by `cargo xtask ci`).
pub fn test_store() -> Store {
    match std::env::var("RELAY_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => {
            Store::open_postgres_scratch(&url).expect("scratch PostgreSQL store")
        }
        _ => Store::open_in_memory().expect("in-memory store"),
    }
}
