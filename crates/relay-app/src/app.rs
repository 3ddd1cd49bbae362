//! The application: the store, configuration and one host adapter per host.

use crate::error::{AppError, AppResult};
use crate::metrics::{MeteredAdapter, Metrics};
use relay_domain::{HostId, Redactor, Secret};
use relay_domain::{PackId, ProviderId};
use relay_store::{HostAuthKind, HostRecord, HostRepository, Store};
use relay_sub2api::{AdminAuth, HostAdapter, HostConfig, Sub2ApiClient};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Tunables of the use-cases.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// Parallel account tests per import (default 8).
    pub import_concurrency: usize,
    /// Bounded warm-up window of the gateway probe (default 30 s).
    pub warmup_window: Duration,
    /// Connect timeout of host calls.
    pub host_connect_timeout: Duration,
    /// Read timeout of host calls (account tests stream for a while).
    pub host_read_timeout: Duration,
    /// The only directory packs may be installed from by server path
    /// (`RELAY_PACKS_DIR`); `None` turns path installs off (uploads still work).
    pub packs_root: Option<PathBuf>,
    /// This server's name on the database leases it holds (`RELAY_WORKER_ID`):
    /// every server on one database needs its own.
    pub worker_id: String,
    /// How long a lease of this server lasts unless renewed (`RELAY_LEASE_SECS`):
    /// the work of a server that died is taken over this long after its last
    /// renewal.
    pub lease_ttl: Duration,
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            import_concurrency: 8,
            warmup_window: Duration::from_secs(30),
            host_connect_timeout: Duration::from_secs(5),
            host_read_timeout: Duration::from_secs(90),
            packs_root: None,
            worker_id: "relay-server".into(),
            lease_ttl: Duration::from_secs(30),
        }
    }
}

/// The relay manager's use-cases over one store.
pub struct App {
    store: Store,
    config: AppConfig,
    adapters: Mutex<HashMap<HostId, Arc<dyn HostAdapter>>>,
    metrics: Arc<Metrics>,
    busy: Mutex<HashSet<(HostId, PackId, ProviderId)>>,
}

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App").field("config", &self.config).finish()
    }
}

impl App {
    /// Builds the application over an opened store.
    pub fn new(store: Store, config: AppConfig) -> App {
        App {
            store,
            config,
            adapters: Mutex::new(HashMap::new()),
            metrics: Arc::new(Metrics::default()),
            busy: Mutex::new(HashSet::new()),
        }
    }

    /// The metrics registry: host calls, imports, reconcile runs and scheduler lag.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The state store every use-case reads and writes.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The tunables this application was opened with.
    pub fn config(&self) -> &AppConfig {
        &self.config
    }

    /// The application's redaction step: every secret the store sealed or opened
    /// in this process, the ones told with [`App::remember_secret`] (the operator
    /// token), and the key patterns. Operations add their own secrets (the upstream
    /// keys of a batch) on top.
    pub fn redactor(&self) -> Redactor {
        self.store.redactor()
    }

    /// Adds a secret every stored text, log line and API answer is redacted of
    /// (the server tells the operator token).
    pub fn remember_secret(&self, secret: &Secret) {
        self.store.remember_secret(secret);
    }

    /// The application's redaction step plus `extra`.
    pub(crate) fn redactor_with(&self, extra: &Redactor) -> Redactor {
        let mut r = self.redactor();
        r.extend(extra);
        r
    }

    /// Builds an adapter from connection facts (used at registration, before
    /// anything is stored).
    pub(crate) fn build_adapter(
        &self,
        base_url: &str,
        auth_kind: HostAuthKind,
        admin_email: Option<&str>,
        secret: Secret,
    ) -> AppResult<Arc<dyn HostAdapter>> {
        let auth = match auth_kind {
            HostAuthKind::ApiKey => AdminAuth::ApiKey(secret),
            HostAuthKind::Login => AdminAuth::Login {
                email: admin_email.unwrap_or_default().to_string(),
                password: secret,
            },
        };
        let mut config = HostConfig::new(base_url, auth);
        config.connect_timeout = self.config.host_connect_timeout;
        config.read_timeout = self.config.host_read_timeout;
        let client =
            Sub2ApiClient::new(config).map_err(|e| AppError::invalid("base_url", e.to_string()))?;
        Ok(Arc::new(MeteredAdapter::new(
            Arc::new(client),
            self.metrics.clone(),
        )))
    }

    /// The adapter of a registered host (cached; one keep-alive agent per host).
    pub fn adapter(&self, host: &HostRecord) -> AppResult<Arc<dyn HostAdapter>> {
        if let Some(a) = self.lock_adapters().get(&host.id) {
            return Ok(a.clone());
        }
        let secret = self.store.hosts().admin_secret(&host.id)?;
        let adapter = self.build_adapter(
            &host.base_url,
            host.auth_kind,
            host.admin_email.as_deref(),
            secret,
        )?;
        self.lock_adapters()
            .insert(host.id.clone(), adapter.clone());
        Ok(adapter)
    }

    /// Forgets a cached adapter (after a host is deleted or its secret changed).
    pub(crate) fn forget_adapter(&self, host_id: &HostId) {
        self.lock_adapters().remove(host_id);
    }

    /// Marks a provider on a host busy; false when it already is.
    pub(crate) fn try_lock_provider(&self, key: &(HostId, PackId, ProviderId)) -> bool {
        self.busy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.clone())
    }

    /// Releases a provider taken with [`App::try_lock_provider`].
    pub(crate) fn unlock_provider(&self, key: &(HostId, PackId, ProviderId)) {
        self.busy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }

    fn lock_adapters(&self) -> std::sync::MutexGuard<'_, HashMap<HostId, Arc<dyn HostAdapter>>> {
        self.adapters.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// `n` random bytes from the operating system.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    getrandom::getrandom(&mut buf).expect("the operating system provides randomness");
    buf
}
