//! Prometheus metrics: host calls by operation and outcome, imports and reconciles,
//! provider statuses and scheduler lag, rendered in the text exposition format.

use relay_domain::Secret;
use relay_sub2api::*;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Histogram bucket bounds in seconds.
pub const BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

#[derive(Debug, Clone, Default)]
struct Histogram {
    count: u64,
    sum: f64,
    buckets: Vec<u64>,
}

impl Histogram {
    fn observe(&mut self, d: Duration) {
        let secs = d.as_secs_f64();
        if self.buckets.is_empty() {
            self.buckets = vec![0; BUCKETS.len()];
        }
        self.count += 1;
        self.sum += secs;
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                self.buckets[i] += 1;
            }
        }
    }
}

type Labels = Vec<(&'static str, String)>;

#[derive(Debug, Default)]
struct Family {
    series: BTreeMap<Vec<(&'static str, String)>, Histogram>,
}

/// One provider's status, for the `relay_provider_status` gauge.
#[derive(Debug, Clone)]
pub struct ProviderStatusSample {
    /// Host the provider is installed on (its id).
    pub host_id: String,
    /// Pack of the provider.
    pub pack_id: String,
    /// Provider whose status this is.
    pub provider_id: String,
    /// The install's provider status (`active`, `degraded`, `drifted`, …), as the gauge label.
    pub status: &'static str,
    /// The install's access status (`subscription_ready`, `broken`, …), as the gauge label.
    pub access_status: &'static str,
}

/// How many keys of one provider on one host are in one health state, for the
/// `relay_provider_keys` gauge.
#[derive(Debug, Clone)]
pub struct KeyStateSample {
    /// Host (its id).
    pub host_id: String,
    /// Provider.
    pub provider_id: String,
    /// The key health state (`healthy`, `failing`, `disabled_by_manager`,
    /// `disabled_by_operator`).
    pub state: &'static str,
    /// Keys in it.
    pub count: i64,
}

/// The `relay_provider_keys` gauge: per provider and host, the keys in each health
/// state (every state listed, zeros included, for each provider with keys).
pub fn render_key_states(samples: &[KeyStateSample]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP relay_provider_keys Keys of each provider on each host by health state (healthy, failing, disabled by the manager, disabled by an operator)."
    );
    let _ = writeln!(out, "# TYPE relay_provider_keys gauge");
    let mut by: BTreeMap<(String, String), BTreeMap<&'static str, i64>> = BTreeMap::new();
    for s in samples {
        *by.entry((s.host_id.clone(), s.provider_id.clone()))
            .or_default()
            .entry(s.state)
            .or_default() += s.count;
    }
    for ((host, provider), counts) in &by {
        for state in relay_domain::KeyHealthState::ALL {
            let labels = vec![
                ("host_id", host.clone()),
                ("provider_id", provider.clone()),
                ("state", state.as_str().to_string()),
            ];
            let n = counts.get(state.as_str()).copied().unwrap_or(0);
            let _ = writeln!(out, "relay_provider_keys{} {n}", label_str(&labels, None));
        }
    }
    out
}

/// The metrics registry (cheap to share; every method takes `&self`).
#[derive(Debug, Default)]
pub struct Metrics {
    host_calls: Mutex<Family>,
    imports: Mutex<Family>,
    reconciles: Mutex<Family>,
    scheduler_lag_seconds: Mutex<Option<f64>>,
    audit_write_failures: std::sync::atomic::AtomicU64,
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn label_str(labels: &[(&'static str, String)], extra: Option<(&str, String)>) -> String {
    let mut parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    if let Some((k, v)) = extra {
        parts.push(format!("{k}=\"{}\"", escape(&v)));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

fn render_family(out: &mut String, name: &str, help: &str, family: &Family) {
    let _ = writeln!(out, "# HELP {name}_total {help}");
    let _ = writeln!(out, "# TYPE {name}_total counter");
    for (labels, h) in &family.series {
        let _ = writeln!(out, "{name}_total{} {}", label_str(labels, None), h.count);
    }
    let _ = writeln!(out, "# HELP {name}_duration_seconds Duration of {help}");
    let _ = writeln!(out, "# TYPE {name}_duration_seconds histogram");
    for (labels, h) in &family.series {
        for (i, bound) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}_duration_seconds_bucket{} {}",
                label_str(labels, Some(("le", format!("{bound}")))),
                h.buckets.get(i).copied().unwrap_or(0)
            );
        }
        let _ = writeln!(
            out,
            "{name}_duration_seconds_bucket{} {}",
            label_str(labels, Some(("le", "+Inf".to_string()))),
            h.count
        );
        let _ = writeln!(
            out,
            "{name}_duration_seconds_sum{} {}",
            label_str(labels, None),
            h.sum
        );
        let _ = writeln!(
            out,
            "{name}_duration_seconds_count{} {}",
            label_str(labels, None),
            h.count
        );
    }
}

impl Metrics {
    fn observe(family: &Mutex<Family>, labels: Labels, d: Duration) {
        let mut f = family.lock().unwrap_or_else(|p| p.into_inner());
        f.series.entry(labels).or_default().observe(d);
    }

    /// Records one host call.
    pub fn observe_host_call(&self, operation: &str, outcome: &str, d: Duration) {
        Self::observe(
            &self.host_calls,
            vec![
                ("operation", operation.to_string()),
                ("outcome", outcome.to_string()),
            ],
            d,
        );
    }

    /// Records one finished import batch.
    pub fn observe_import(&self, outcome: &str, d: Duration) {
        Self::observe(&self.imports, vec![("outcome", outcome.to_string())], d);
    }

    /// Records one finished reconcile run.
    pub fn observe_reconcile(&self, verdict: &str, d: Duration) {
        Self::observe(&self.reconciles, vec![("verdict", verdict.to_string())], d);
    }

    /// Sets how late the reconcile scheduler is behind its schedule.
    pub fn set_scheduler_lag(&self, secs: f64) {
        *self
            .scheduler_lag_seconds
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(secs);
    }

    /// Counts one audit event that could not be written.
    pub fn observe_audit_failure(&self) {
        self.audit_write_failures
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Audit events that could not be written since start.
    pub fn audit_write_failures(&self) -> u64 {
        self.audit_write_failures
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Number of host calls recorded for an operation (any outcome).
    pub fn host_call_count(&self, operation: &str) -> u64 {
        let f = self.host_calls.lock().unwrap_or_else(|p| p.into_inner());
        f.series
            .iter()
            .filter(|(l, _)| l.iter().any(|(k, v)| *k == "operation" && v == operation))
            .map(|(_, h)| h.count)
            .sum()
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self, providers: &[ProviderStatusSample]) -> String {
        let mut out = String::new();
        {
            let f = self.host_calls.lock().unwrap_or_else(|p| p.into_inner());
            render_family(
                &mut out,
                "relay_host_calls",
                "host calls by operation and outcome.",
                &f,
            );
        }
        {
            let f = self.imports.lock().unwrap_or_else(|p| p.into_inner());
            render_family(&mut out, "relay_imports", "import batches by outcome.", &f);
        }
        {
            let f = self.reconciles.lock().unwrap_or_else(|p| p.into_inner());
            render_family(
                &mut out,
                "relay_reconciles",
                "reconcile runs by verdict.",
                &f,
            );
        }
        let _ = writeln!(
            out,
            "# HELP relay_provider_status 1 for the current status of each provider on each host."
        );
        let _ = writeln!(out, "# TYPE relay_provider_status gauge");
        for p in providers {
            let labels = vec![
                ("host_id", p.host_id.clone()),
                ("pack_id", p.pack_id.clone()),
                ("provider_id", p.provider_id.clone()),
                ("status", p.status.to_string()),
                ("access_status", p.access_status.to_string()),
            ];
            let _ = writeln!(out, "relay_provider_status{} 1", label_str(&labels, None));
        }
        let _ = writeln!(
            out,
            "# HELP relay_scheduler_lag_seconds How far the reconcile scheduler is behind schedule."
        );
        let _ = writeln!(out, "# TYPE relay_scheduler_lag_seconds gauge");
        let lag = self
            .scheduler_lag_seconds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .unwrap_or(0.0);
        let _ = writeln!(out, "relay_scheduler_lag_seconds {lag}");
        let _ = writeln!(
            out,
            "# HELP relay_audit_write_failures_total Audit events of host mutations that could not be written."
        );
        let _ = writeln!(out, "# TYPE relay_audit_write_failures_total counter");
        let _ = writeln!(
            out,
            "relay_audit_write_failures_total {}",
            self.audit_write_failures()
        );
        out
    }
}

/// The outcome label of a host call.
pub fn outcome_of<T>(r: &Result<T, HostError>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(HostError::Config(_)) => "config",
        Err(HostError::Unauthorized(_)) => "unauthorized",
        Err(HostError::Forbidden(_)) => "forbidden",
        Err(HostError::NotFound(_)) => "not_found",
        Err(HostError::UnsupportedRoute { .. }) => "unsupported_route",
        Err(HostError::Conflict(_)) => "conflict",
        Err(HostError::IdempotencyPending { .. }) => "idempotency_pending",
        Err(HostError::RateLimited { .. }) => "rate_limited",
        Err(HostError::ComplianceRequired(_)) => "compliance_required",
        Err(HostError::Host { .. }) => "host_error",
        Err(HostError::Transport(_)) => "transport",
        Err(HostError::Decode(_)) => "decode",
    }
}

/// A [`HostAdapter`] that records every call in [`Metrics`].
pub struct MeteredAdapter {
    inner: Arc<dyn HostAdapter>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for MeteredAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MeteredAdapter")
    }
}

impl MeteredAdapter {
    /// Wraps an adapter.
    pub fn new(inner: Arc<dyn HostAdapter>, metrics: Arc<Metrics>) -> Self {
        MeteredAdapter { inner, metrics }
    }
}

macro_rules! metered {
    ($( fn $name:ident(&self $(, $arg:ident : $ty:ty)* ) -> $ret:ty; )*) => {
        impl HostAdapter for MeteredAdapter {
            $(
                fn $name(&self $(, $arg: $ty)*) -> Result<$ret, HostError> {
                    let start = Instant::now();
                    let r = self.inner.$name($($arg),*);
                    self.metrics
                        .observe_host_call(stringify!($name), outcome_of(&r), start.elapsed());
                    r
                }
            )*
        }
    };
}

metered! {
    fn version(&self) -> String;
    fn public_settings(&self) -> PublicSettings;
    fn capabilities(&self) -> Capabilities;
    fn gateway_reachability(&self) -> GatewayReachability;
    fn compliance(&self) -> Option<ComplianceStatus>;
    fn capabilities_with_gateway(&self) -> (Capabilities, GatewayReachability);
    fn list_groups(&self, filter: &GroupFilter) -> Vec<Group>;
    fn get_group(&self, id: ObjectId) -> Group;
    fn create_group(&self, group: &NewGroup) -> Group;
    fn update_group(&self, id: ObjectId, update: &GroupUpdate) -> Group;
    fn delete_group(&self, id: ObjectId) -> ();
    fn list_group_keys(&self, group_id: ObjectId) -> Vec<UserKey>;
    fn list_channels(&self, name: Option<&str>) -> Vec<Channel>;
    fn get_channel(&self, id: ObjectId) -> Channel;
    fn create_channel(&self, channel: &NewChannel) -> Channel;
    fn update_channel(&self, id: ObjectId, update: &ChannelUpdate) -> Channel;
    fn delete_channel(&self, id: ObjectId) -> ();
    fn list_plans(&self) -> Vec<Plan>;
    fn create_plan(&self, plan: &NewPlan) -> Plan;
    fn update_plan(&self, id: ObjectId, update: &PlanUpdate) -> Plan;
    fn delete_plan(&self, id: ObjectId) -> ();
    fn create_account(&self, account: &NewAccount, idempotency_key: Option<&str>) -> Account;
    fn create_accounts_batch(&self, accounts: &[NewAccount], idempotency_key: Option<&str>) -> BatchCreateResult;
    fn get_account(&self, id: ObjectId) -> Account;
    fn list_accounts(&self, filter: &AccountFilter) -> Vec<Account>;
    fn update_account(&self, id: ObjectId, update: &AccountUpdate) -> Account;
    fn clear_account_error(&self, id: ObjectId) -> Account;
    fn set_account_schedulable(&self, id: ObjectId, schedulable: bool) -> Account;
    fn recover_account_state(&self, id: ObjectId) -> Account;
    fn clear_account_errors(&self, ids: &[ObjectId]) -> BatchClearResult;
    fn clear_account_temp_unschedulable(&self, id: ObjectId) -> bool;
    fn delete_account(&self, id: ObjectId) -> ();
    fn test_account(&self, id: ObjectId, model_id: Option<&str>) -> ProbeResult;
    fn account_models(&self, id: ObjectId) -> Vec<String>;
    fn sync_upstream_models(&self, id: ObjectId) -> Vec<String>;
    fn sync_upstream_models_preview(&self, preview: &UpstreamModelsPreview) -> Vec<String>;
    fn account_balance(&self, id: ObjectId) -> HostBalance;
    fn find_user_by_email(&self, email: &str) -> Option<User>;
    fn get_user(&self, id: ObjectId) -> User;
    fn create_user(&self, user: &NewUser) -> User;
    fn update_user(&self, id: ObjectId, update: &UserUpdate) -> User;
    fn set_user_balance(&self, id: ObjectId, change: &BalanceChange, idempotency_key: Option<&str>) -> User;
    fn delete_user(&self, id: ObjectId) -> ();
    fn list_user_keys_admin(&self, user_id: ObjectId) -> Vec<UserKey>;
    fn rebind_user_key(&self, key_id: ObjectId, group_id: ObjectId) -> UserKey;
    fn login_user(&self, email: &str, password: &Secret) -> LoginOutcome;
    fn create_user_key(&self, session: &UserSession, key: &NewUserKey, idempotency_key: Option<&str>) -> UserKey;
    fn list_user_keys(&self, session: &UserSession) -> Vec<UserKey>;
    fn delete_user_key(&self, session: &UserSession, key_id: ObjectId) -> ();
    fn assign_subscription(&self, assignment: &SubscriptionAssignment) -> AssignOutcome;
    fn list_subscriptions(&self, filter: &SubscriptionFilter) -> Vec<Subscription>;
    fn revoke_subscription(&self, id: ObjectId) -> ();
    fn gateway_models(&self, key: &Secret) -> ModelsProbe;
    fn gateway_chat(&self, key: &Secret, request: &ChatProbeRequest) -> CompletionProbe;
}

impl crate::App {
    /// The Prometheus text of every metric, with provider statuses read from the store.
    pub fn render_metrics(&self) -> crate::AppResult<String> {
        use relay_store::InstallRepository;
        let samples: Vec<ProviderStatusSample> = self
            .store()
            .installs()
            .list(None, None, None)?
            .into_iter()
            .map(|i| ProviderStatusSample {
                host_id: i.host_id.to_string(),
                pack_id: i.pack_id.to_string(),
                provider_id: i.provider_id.to_string(),
                status: i.status.as_str(),
                access_status: i.access_status.as_str(),
            })
            .collect();
        let keys: Vec<KeyStateSample> = {
            use relay_store::KeyHealthRepository;
            self.store()
                .key_health()
                .state_counts()?
                .into_iter()
                .map(|c| KeyStateSample {
                    host_id: c.host_id.to_string(),
                    provider_id: c.provider_id.to_string(),
                    state: c.state.as_str(),
                    count: c.count,
                })
                .collect()
        };
        let mut text = self.metrics().render(&samples);
        text.push_str(&render_key_states(&keys));
        text.push_str(&self.drift_metrics_text()?);
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.observe_host_call("create_account", "ok", Duration::from_millis(30));
        m.observe_host_call("create_account", "ok", Duration::from_millis(300));
        m.observe_host_call("test_account", "transport", Duration::from_secs(2));
        m.observe_import("succeeded", Duration::from_secs(3));
        m.set_scheduler_lag(1.5);
        let text = m.render(&[ProviderStatusSample {
            host_id: "host_1".into(),
            pack_id: "p".into(),
            provider_id: "deep\"seek".into(),
            status: "active",
            access_status: "subscription_ready",
        }]);
        assert!(
            text.contains("relay_host_calls_total{operation=\"create_account\",outcome=\"ok\"} 2")
        );
        assert!(text.contains(
            "relay_host_calls_duration_seconds_bucket{operation=\"create_account\",outcome=\"ok\",le=\"0.05\"} 1"
        ));
        assert!(text.contains(
            "relay_host_calls_duration_seconds_bucket{operation=\"create_account\",outcome=\"ok\",le=\"+Inf\"} 2"
        ));
        assert!(text.contains("relay_imports_total{outcome=\"succeeded\"} 1"));
        assert!(text.contains("provider_id=\"deep\\\"seek\""));
        assert!(text.contains("relay_scheduler_lag_seconds 1.5"));
        assert!(text.contains("relay_audit_write_failures_total 0"));
        m.observe_audit_failure();
        assert!(m.render(&[]).contains("relay_audit_write_failures_total 1"));
        assert_eq!(m.host_call_count("create_account"), 2);
        assert_eq!(m.host_call_count("test_account"), 1);
    }

    #[test]
    fn key_states_are_gauges_per_provider_with_zeros() {
        let text = render_key_states(&[
            KeyStateSample {
                host_id: "host_1".into(),
                provider_id: "deepseek".into(),
                state: "healthy",
                count: 2,
            },
            KeyStateSample {
                host_id: "host_1".into(),
                provider_id: "deepseek".into(),
                state: "disabled_by_manager",
                count: 1,
            },
        ]);
        assert!(text.contains("# TYPE relay_provider_keys gauge"));
        let line = |state: &str, n: i64| {
            format!("relay_provider_keys{{host_id=\"host_1\",provider_id=\"deepseek\",state=\"{state}\"}} {n}")
        };
        for (state, n) in [
            ("healthy", 2),
            ("failing", 0),
            ("disabled_by_manager", 1),
            ("disabled_by_operator", 0),
        ] {
            assert!(text.contains(&line(state, n)), "{text}");
        }
    }
}
