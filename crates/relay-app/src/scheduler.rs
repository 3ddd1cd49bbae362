//! The background reconcile scheduler (SPEC §4.7): every provider that is not
//! `disabled` is reconciled at an interval with jitter, at most one run per provider
//! at a time and a bounded number per host; a host that does not answer is marked
//! `unreachable` and retried with exponential backoff until it recovers.

use crate::app::App;
use crate::error::AppError;
use crate::reconcile::ReconcileOptions;
use relay_domain::{HostId, PackId, ProviderId};
use relay_store::{InstallRepository, ProviderInstallRecord, ResourceRepository};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Settings of the background reconcile scheduler.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Time between two runs of a provider (`RELAY_RECONCILE_INTERVAL`, default 10 min).
    pub interval: Duration,
    /// Up to this much is added to each provider's interval, spreading runs out
    /// (default: a tenth of the interval).
    pub jitter: Duration,
    /// Runs at once per host (default 1: one provider at a time per host).
    pub per_host: usize,
    /// How often due runs are looked for.
    pub tick: Duration,
    /// First backoff after a host did not answer; doubles up to the interval.
    pub unreachable_backoff: Duration,
    /// Least time between two model-drift checks of a provider on a host, run after a
    /// scheduled reconcile that completed (`RELAY_MODEL_DRIFT_INTERVAL`, default 1 day;
    /// zero turns them off).
    pub drift_interval: Duration,
}

impl SchedulerConfig {
    /// Settings for an interval, with the default jitter, bound and tick.
    pub fn every(interval: Duration) -> Self {
        SchedulerConfig {
            interval,
            jitter: interval / 10,
            per_host: 1,
            tick: Duration::from_secs(1).min(interval.max(Duration::from_millis(100))),
            unreachable_backoff: Duration::from_secs(30).min(interval),
            drift_interval: Duration::from_secs(24 * 60 * 60),
        }
    }
}

/// Parses an interval such as `600`, `600s`, `10m`, `1h` (seconds without a unit).
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (num, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{text}` is not an interval: use e.g. 600, 30s, 10m or 1h"))?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "ms" => return Ok(Duration::from_millis(n)),
        other => return Err(format!("`{other}` is not an interval unit: use s, m or h")),
    };
    Ok(Duration::from_secs(secs))
}

type Key = (HostId, PackId, ProviderId);

#[derive(Default)]
struct State {
    running: HashSet<Key>,
    per_host: HashMap<HostId, usize>,
    /// Host → (next attempt, consecutive failures).
    backoff: HashMap<HostId, (u128, u32)>,
}

/// A running scheduler; stops when [`SchedulerHandle::stop`] is called or dropped.
#[derive(Debug)]
pub struct SchedulerHandle {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SchedulerHandle {
    /// Stops scheduling new runs (running ones finish) and waits for the loop.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for SchedulerHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

/// A stable per-provider offset in `[0, jitter)`, so runs spread out but a
/// provider keeps its place from one round to the next.
fn jitter_of(key: &Key, jitter: Duration) -> u128 {
    let j = jitter.as_millis();
    if j == 0 {
        return 0;
    }
    let mut h: u64 = 0xcbf29ce484222325;
    for b in key
        .0
        .as_str()
        .bytes()
        .chain(key.1 .0.bytes())
        .chain(key.2 .0.bytes())
    {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    u128::from(h) % j
}

impl App {
    /// Starts the scheduler on its own thread.
    pub fn spawn_scheduler(self: &Arc<Self>, config: SchedulerConfig) -> SchedulerHandle {
        let stop = Arc::new(AtomicBool::new(false));
        let app = self.clone();
        let flag = stop.clone();
        let state = Arc::new(Mutex::new(State::default()));
        let thread = std::thread::Builder::new()
            .name("reconcile-scheduler".into())
            .spawn(move || {
                tracing::info!(
                    interval_s = config.interval.as_secs(),
                    per_host = config.per_host,
                    "reconcile scheduler started"
                );
                while !flag.load(Ordering::SeqCst) {
                    if let Err(e) = app.schedule_due(&config, &state) {
                        let error = app.redactor().redact(&e.to_string());
                        tracing::error!(%error, "scheduler round failed");
                    }
                    std::thread::sleep(config.tick);
                }
                tracing::info!("reconcile scheduler stopped");
            })
            .expect("the scheduler thread starts");
        SchedulerHandle {
            stop,
            thread: Some(thread),
        }
    }

    fn due_at(&self, install: &ProviderInstallRecord, config: &SchedulerConfig) -> u128 {
        let key = (
            install.host_id.clone(),
            install.pack_id.clone(),
            install.provider_id.clone(),
        );
        let last = install
            .last_reconcile_at
            .unwrap_or(install.updated_at)
            .as_millis()
            .max(0) as u128;
        last + config.interval.as_millis() + jitter_of(&key, config.jitter)
    }

    fn schedule_due(
        self: &Arc<Self>,
        config: &SchedulerConfig,
        state: &Arc<Mutex<State>>,
    ) -> Result<(), AppError> {
        let now = now_ms();
        let mut lag_ms: u128 = 0;
        for install in self.store().installs().list_reconcilable()? {
            let key: Key = (
                install.host_id.clone(),
                install.pack_id.clone(),
                install.provider_id.clone(),
            );
            let due = self.due_at(&install, config);
            if due > now {
                continue;
            }
            let live = self
                .store()
                .resources()
                .list_for_provider(&key.0, &key.1, &key.2)?
                .iter()
                .any(|r| r.state.is_owned_live() || r.state == relay_domain::ResourceState::Reused);
            if !live {
                continue;
            }
            {
                let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
                if st.running.contains(&key) {
                    continue;
                }
                if let Some((next, _)) = st.backoff.get(&key.0) {
                    if *next > now {
                        continue;
                    }
                }
                let busy = st.per_host.get(&key.0).copied().unwrap_or(0);
                if busy >= config.per_host.max(1) {
                    continue;
                }
                st.running.insert(key.clone());
                *st.per_host.entry(key.0.clone()).or_default() += 1;
            }
            lag_ms = lag_ms.max(now - due);
            let seen = install
                .last_reconcile_at
                .unwrap_or(relay_store::Timestamp(0));
            let app = self.clone();
            let state = state.clone();
            let backoff = config.unreachable_backoff;
            let cap = config.interval;
            let drift_interval = config.drift_interval;
            std::thread::spawn(move || {
                let result = app.reconcile_provider(
                    &key.2 .0,
                    key.0.as_str(),
                    Some(&key.1 .0),
                    &ReconcileOptions {
                        scheduled: true,
                        last_reconcile_seen: Some(seen),
                        ..ReconcileOptions::default()
                    },
                );
                let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
                match result {
                    Err(AppError::HostUnreachable(m)) => {
                        let failures = st.backoff.get(&key.0).map(|b| b.1).unwrap_or(0) + 1;
                        let wait = backoff
                            .saturating_mul(1u32 << failures.min(16).saturating_sub(1))
                            .min(cap.max(backoff));
                        st.backoff
                            .insert(key.0.clone(), (now_ms() + wait.as_millis(), failures));
                        let error = app.redactor().redact(&m);
                        tracing::warn!(host = %key.0, failures, retry_in_s = wait.as_secs(), %error, "host unreachable; backing off");
                    }
                    Err(AppError::Conflict {
                        code: "provider_busy" | "already_reconciled",
                        ..
                    }) => {}
                    Err(e) => {
                        st.backoff.remove(&key.0);
                        let error = app.redactor().redact(&e.to_string());
                        tracing::warn!(provider = %key.2, host = %key.0, %error, "scheduled reconcile failed");
                    }
                    Ok(_) => {
                        st.backoff.remove(&key.0);
                        drop(st);
                        app.check_drift_if_due(&key.0, &key.1, &key.2, drift_interval);
                        st = state.lock().unwrap_or_else(|p| p.into_inner());
                    }
                }
                st.running.remove(&key);
                if let Some(n) = st.per_host.get_mut(&key.0) {
                    *n = n.saturating_sub(1);
                }
            });
        }
        self.metrics().set_scheduler_lag(lag_ms as f64 / 1000.0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_parse_with_units() {
        assert_eq!(parse_interval("600").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_interval("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_interval("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_interval("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_interval("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_interval("ten").is_err());
        assert!(parse_interval("5d").is_err());
    }

    #[test]
    fn jitter_is_stable_and_bounded() {
        let key = (HostId::new("h"), PackId("p".into()), ProviderId("x".into()));
        let j = Duration::from_secs(60);
        assert_eq!(jitter_of(&key, j), jitter_of(&key, j));
        assert!(jitter_of(&key, j) < 60_000);
        assert_eq!(jitter_of(&key, Duration::ZERO), 0);
    }
}
