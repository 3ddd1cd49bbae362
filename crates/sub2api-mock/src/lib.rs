//! A stateful, in-memory emulator of a sub2api host.
//!
//! It speaks the host's real HTTP API (admin API with the `{"code":0,...}` envelope,
//! middleware errors, pagination, the SSE account test, the OpenAI-compatible gateway)
//! and serves every account `base_url` with in-process simulated vendors whose behaviour
//! is chosen by the upstream key (`invalid`, `quota`, `ratelimit`, `slow`).
//! Fault knobs reproduce the host's awkward real-world behaviours.
//!
//! ```no_run
//! let host = sub2api_mock::MockHost::start(sub2api_mock::MockConfig::default()).unwrap();
//! println!("{} {}", host.base_url(), host.admin_api_key());
//! ```

// Handlers return ready-made HTTP responses as their error values (`Result<_, Resp>`),
// so early returns read like the host's `return` after writing an error. The size of the
// error variant is irrelevant for a test server.
#![allow(clippy::result_large_err)]
#![warn(missing_docs)]

mod admin;
mod auth;
mod echo;
mod faults;
mod gateway;
mod http;
mod idempotency;
mod inspect;
mod keys;
mod limits;
pub mod mock_vendor;
mod policy;
mod server;
mod sse;
mod state;
mod util;
mod vendor;
mod vendor_server;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

pub use faults::{
    Faults, HostKnobs, DEFAULT_INVALID_AUTH_THRESHOLD, DEFAULT_PROBE_DELAY_MS,
    INVALID_AUTH_BLOCK_SECS, INVALID_AUTH_WINDOW_SECS, RESPONSES_ONLY_TEST_MESSAGE,
};
pub use mock_vendor::{MockVendor, MockVendorConfig, VendorRequest};
pub use policy::HostPolicy;
pub use state::DEFAULT_MODELS_CACHE_TTL_MS;

use server::{lock, Ctx, Shared};
use state::State;

/// Default admin API key (`admin-` + 64 hex; a fixed test value).
pub const DEFAULT_ADMIN_API_KEY: &str =
    "admin-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
/// Default admin e-mail.
pub const DEFAULT_ADMIN_EMAIL: &str = "admin@example.com";
/// Default admin password (development only).
pub const DEFAULT_ADMIN_PASSWORD: &str = "admin-dev-password";
/// Default reported host version.
pub const DEFAULT_HOST_VERSION: &str = "0.1.179";

/// Start-up configuration of a mock host.
#[derive(Debug, Clone)]
pub struct MockConfig {
    /// The admin API key accepted in `x-api-key`.
    pub admin_api_key: String,
    /// E-mail of the seeded admin user (id 1).
    pub admin_email: String,
    /// Password of the seeded admin user.
    pub admin_password: String,
    /// Version reported by the host (plain semver, no `v`).
    pub host_version: String,
    /// Initial fault knobs.
    pub faults: Faults,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            admin_api_key: DEFAULT_ADMIN_API_KEY.to_string(),
            admin_email: DEFAULT_ADMIN_EMAIL.to_string(),
            admin_password: DEFAULT_ADMIN_PASSWORD.to_string(),
            host_version: DEFAULT_HOST_VERSION.to_string(),
            faults: Faults::default(),
        }
    }
}

/// A running mock host on its own Tokio runtime and thread; dropping it stops the server.
#[derive(Debug)]
pub struct MockHost {
    addr: SocketAddr,
    admin_api_key: String,
    ctx: Ctx,
    shutdown: tokio::sync::watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl MockHost {
    /// Starts a host on `127.0.0.1:0` (an ephemeral port).
    pub fn start(config: MockConfig) -> std::io::Result<MockHost> {
        MockHost::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), config)
    }

    /// Starts a host on `addr` (port 0 picks a free port; see [`MockHost::addr`]).
    pub fn start_on(addr: SocketAddr, config: MockConfig) -> std::io::Result<MockHost> {
        MockHost::start_role(addr, config, false)
    }

    /// Starts the vendor-only role on `addr`: the simulated vendors alone, as an
    /// OpenAI-compatible upstream (`/v1/models`, `/v1/chat/completions`,
    /// `/v1/responses`) for the accounts of a real host. No admin API, no gateway.
    pub fn start_vendor_on(addr: SocketAddr) -> std::io::Result<MockHost> {
        MockHost::start_role(addr, MockConfig::default(), true)
    }

    fn start_role(
        addr: SocketAddr,
        config: MockConfig,
        vendor_only: bool,
    ) -> std::io::Result<MockHost> {
        let std_listener = std::net::TcpListener::bind(addr)?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let state = State::new(
            &config.admin_api_key,
            &config.admin_email,
            &config.admin_password,
            &config.host_version,
            config.faults.clone(),
        );
        let ctx: Ctx = Arc::new(Shared {
            state: Mutex::new(state),
            vendor_only: vendor_only.then(|| format!("http://{addr}")),
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sub2api-mock")
            .enable_all()
            .build()?;
        let listener = {
            let _guard = runtime.enter();
            tokio::net::TcpListener::from_std(std_listener)?
        };
        let (tx, rx) = tokio::sync::watch::channel(false);
        let serve_ctx = ctx.clone();
        let thread = std::thread::Builder::new()
            .name("sub2api-mock-server".into())
            .spawn(move || {
                runtime.block_on(server::serve(listener, serve_ctx, rx));
                runtime.shutdown_background();
            })?;
        Ok(MockHost {
            addr,
            admin_api_key: config.admin_api_key,
            ctx,
            shutdown: tx,
            thread: Some(thread),
        })
    }

    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The admin API key this host accepts.
    pub fn admin_api_key(&self) -> &str {
        &self.admin_api_key
    }

    /// The same document as `GET /__mock/state`.
    pub fn state(&self) -> serde_json::Value {
        lock(&self.ctx).dump()
    }

    /// Replaces the fault knobs (`fail_nth_admin_call` counts from now).
    pub fn set_faults(&self, faults: Faults) {
        lock(&self.ctx).set_faults(faults);
    }

    /// Ends subscription `id` now, as time passing would (the real host has no admin
    /// call that does this: shortening past now is refused). Returns false when there
    /// is no such subscription.
    pub fn expire_subscription(&self, id: i64) -> bool {
        let mut st = lock(&self.ctx);
        let now = util::now_ms();
        match st.subscriptions.get_mut(&id) {
            Some(s) => {
                s.starts_at = s.starts_at.min(now - 86_400_000);
                s.expires_at = now - 60_000;
                true
            }
            None => false,
        }
    }

    /// Sets how long the gateway keeps a `/v1/models` list per (group, platform)
    /// (0 disables the cache; see [`DEFAULT_MODELS_CACHE_TTL_MS`]). Also settable as
    /// `models_cache_ttl_ms` in `POST /__mock/faults`.
    pub fn set_models_cache_ttl(&self, ttl: std::time::Duration) {
        let mut st = lock(&self.ctx);
        st.models_cache_ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        st.models_cache.clear();
    }

    /// The current fault knobs (counters such as `rate_limit_next_admin_calls` count down).
    pub fn faults(&self) -> Faults {
        lock(&self.ctx).faults.clone()
    }

    /// Replaces the host settings (idempotency enforcement, limiter thresholds).
    pub fn set_policy(&self, policy: HostPolicy) {
        lock(&self.ctx).policy = policy;
    }

    /// The current host settings.
    pub fn policy(&self) -> HostPolicy {
        lock(&self.ctx).policy.clone()
    }

    /// Replaces the host-gate knobs (compliance lock, invalid-auth limiter).
    pub fn set_knobs(&self, knobs: HostKnobs) {
        lock(&self.ctx).set_knobs(knobs);
    }

    /// The current host-gate knobs.
    pub fn knobs(&self) -> HostKnobs {
        lock(&self.ctx).knobs.clone()
    }

    /// Every raw secret the host holds or issued (as `GET /__mock/secrets`): for
    /// tests that scan outputs for leaks.
    pub fn secrets(&self) -> Vec<String> {
        lock(&self.ctx).secrets()
    }

    /// Number of `/api/v1/admin/**` calls served so far (matched routes only).
    pub fn admin_call_count(&self) -> u64 {
        lock(&self.ctx).admin_calls
    }

    /// Blocks the current thread until the server thread ends (used by the binary).
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for MockHost {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
