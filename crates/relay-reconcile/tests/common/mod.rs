//! Shared set-up of the reconcile tests: a mock host, an adapter that counts
//! account tests, in-memory ports, a provider imported through the real import
//! use-case, and helpers to change the host "by hand" through its admin API.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use relay_access::{ProbeObserver, ProbeRecord};
use relay_domain::{
    AccessMode, BatchId, Fingerprint, HostId, ImportMode, PackId, ProviderId, Secret,
};
use relay_pack::{
    AccountType, BillingMode, BillingModelSource, Capabilities as PackCaps, ChannelTemplate,
    GroupTemplate, HostOverlay, ModelPricing as PackPricing, PlanTemplate, Platform,
    ProviderManifest, Severity, ValidityUnit,
};
use relay_provision::memory::{MemoryJournal, MemoryVault, RecordingObserver, TestRandomness};
use relay_provision::{
    import, ImportReport, ImportRequest, JournalScope, ProbeTuning, ProviderTarget, ProvisionPorts,
};
use relay_reconcile::{ReconcilePorts, ReconcileRequest};
use relay_sub2api::*;
use serde_json::Value;
use sub2api_mock::{Faults, MockConfig, MockHost};

pub const PACK: &str = "test-pack";
pub const PROVIDER: &str = "deepseek";
pub const SMOKE: &str = "deepseek-flash";

pub const GOOD_1: &str = "sk-good-0001aaaaaaaaaaaaaaaaaaaaaaaa";
pub const GOOD_2: &str = "sk-good-0002bbbbbbbbbbbbbbbbbbbbbbbb";
pub const GOOD_3: &str = "sk-good-0003cccccccccccccccccccccccc";
pub const INVALID: &str = "sk-invalid-0004dddddddddddddddddddd";

/// A small DeepSeek-like manifest (chat-only accounts).
pub fn manifest() -> ProviderManifest {
    ProviderManifest {
        provider_id: PROVIDER.into(),
        display_name: "DeepSeek".into(),
        platform: Platform::Openai,
        native_platform: None,
        account_type: AccountType::Apikey,
        base_url: "https://api.deepseek.com".into(),
        default_models: vec![SMOKE.into(), "deepseek-v4-pro".into()],
        smoke_test_model: SMOKE.into(),
        model_aliases: BTreeMap::new(),
        key_hint: None,
        group_template: GroupTemplate {
            rate_multiplier: 1.0,
            daily_limit_usd: None,
            weekly_limit_usd: None,
            monthly_limit_usd: None,
        },
        channel_template: ChannelTemplate {
            model_mapping: [
                (SMOKE.to_string(), SMOKE.to_string()),
                ("deepseek-v4-pro".to_string(), "deepseek-v4-pro".to_string()),
            ]
            .into_iter()
            .collect(),
            model_pricing: vec![PackPricing {
                models: vec![SMOKE.into(), "deepseek-v4-pro".into()],
                input_price: 0.000001,
                output_price: 0.000002,
                billing_mode: BillingMode::Token,
            }],
            billing_model_source: Some(BillingModelSource::ChannelMapped),
            restrict_models: false,
        },
        plan_template: PlanTemplate {
            price: 10.0,
            validity_days: 1,
            validity_unit: ValidityUnit::Month,
        },
        capabilities: PackCaps {
            chat_completions: true,
            responses_api: true,
            anthropic_messages: false,
            stream: true,
            tools: true,
        },
        force_disable_openai_responses_api: true,
        host_overlays: vec![HostOverlay {
            host_version: semver::VersionReq::parse(">=0.1.100, <0.2.0").unwrap(),
            note: "known gap on this host line".into(),
            severity: Severity::Warning,
        }],
    }
}

/// A manifest whose accounts are not forced to Chat Completions at create time.
pub fn responses_manifest() -> ProviderManifest {
    ProviderManifest {
        force_disable_openai_responses_api: false,
        ..manifest()
    }
}

/// Keeps every probe record.
#[derive(Debug, Default)]
pub struct Probes(Mutex<Vec<ProbeRecord>>);

impl Probes {
    pub fn all(&self) -> Vec<ProbeRecord> {
        self.0.lock().unwrap().clone()
    }
}

impl ProbeObserver for Probes {
    fn probe(&self, record: ProbeRecord) {
        self.0.lock().unwrap().push(record);
    }
}

/// Delegates to the real client and counts account tests (and the most in flight).
pub struct Counting {
    pub inner: Sub2ApiClient,
    pub tests: AtomicUsize,
    in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
    pub tested: Mutex<Vec<ObjectId>>,
}

pub struct Env {
    pub host: MockHost,
    pub adapter: Counting,
    pub journal: MemoryJournal,
    pub vault: MemoryVault,
    pub random: TestRandomness,
    pub observer: RecordingObserver,
    pub probes: Probes,
    pub provider: ProviderManifest,
}

pub fn client_for(base_url: &str, admin_key: &str) -> Sub2ApiClient {
    Sub2ApiClient::new(HostConfig {
        base_url: base_url.to_string(),
        auth: AdminAuth::ApiKey(Secret::new(admin_key)),
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(20),
        max_read_retries: 1,
    })
    .expect("client")
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
        let inner = client_for(&host.base_url(), host.admin_api_key());
        Env {
            host,
            adapter: Counting {
                inner,
                tests: AtomicUsize::new(0),
                in_flight: AtomicUsize::new(0),
                max_in_flight: AtomicUsize::new(0),
                tested: Mutex::new(Vec::new()),
            },
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
        }
    }

    /// The host's admin API, for changes "by hand".
    pub fn client(&self) -> &Sub2ApiClient {
        &self.adapter.inner
    }

    pub fn target(&self) -> ProviderTarget {
        let recorded =
            relay_access::Journal::list_provider(&self.provider_journal()).expect("journal");
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

    pub fn ports<'a>(&'a self, journal: &'a MemoryJournal) -> ReconcilePorts<'a> {
        ReconcilePorts {
            adapter: &self.adapter,
            journal,
            vault: &self.vault,
            observer: &self.probes,
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
        let ports = ProvisionPorts {
            adapter: &self.adapter.inner,
            journal: &self.journal,
            vault: &self.vault,
            random: &self.random,
            observer: &self.observer,
        };
        let report = import(&ports, &self.target(), &r).expect("import runs");
        self.adapter.tests.store(0, Ordering::SeqCst);
        self.adapter.tested.lock().unwrap().clear();
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
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            let a = self.client().get_account(id).expect("account");
            if a.extra.contains_key("openai_responses_supported") {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the host never probed account {id}");
    }
}

/// A short warm-up window so failing probes end quickly.
pub fn fast_probe() -> ProbeTuning {
    ProbeTuning {
        warmup_window: Duration::from_secs(2),
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(400),
        repair: true,
    }
}

pub fn request() -> ReconcileRequest {
    ReconcileRequest {
        probe: fast_probe(),
        ..ReconcileRequest::default()
    }
}

/// Asserts that no secret appears in a serialized report.
pub fn assert_no_secrets(text: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!text.contains(s), "secret {s:?} leaked into: {text}");
    }
}

/// Every secret of the environment: upstream keys, the admin key, the vault's
/// user keys and passwords.
pub fn secrets(env: &Env) -> Vec<String> {
    let mut out: Vec<String> = [GOOD_1, GOOD_2, GOOD_3, INVALID, env.host.admin_api_key()]
        .iter()
        .map(|s| s.to_string())
        .collect();
    use relay_access::SubscriberVault;
    if let Ok(Some(s)) = env.vault.subscriber(relay_access::DEFAULT_PROBE_EMAIL) {
        out.push(s.password.expose().to_string());
        for g in 0..50 {
            if let Ok(Some(k)) = env.vault.user_key(relay_access::DEFAULT_PROBE_EMAIL, g) {
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

impl HostAdapter for Counting {
    fn version(&self) -> Result<String, HostError> {
        self.inner.version()
    }
    fn compliance(&self) -> Result<Option<ComplianceStatus>, HostError> {
        self.inner.compliance()
    }
    fn capabilities_with_gateway(&self) -> Result<(Capabilities, GatewayReachability), HostError> {
        self.inner.capabilities_with_gateway()
    }
    fn set_account_schedulable(
        &self,
        id: ObjectId,
        schedulable: bool,
    ) -> Result<Account, HostError> {
        self.inner.set_account_schedulable(id, schedulable)
    }
    fn recover_account_state(&self, id: ObjectId) -> Result<Account, HostError> {
        self.inner.recover_account_state(id)
    }
    fn clear_account_errors(&self, ids: &[ObjectId]) -> Result<BatchClearResult, HostError> {
        self.inner.clear_account_errors(ids)
    }
    fn rebind_user_key(&self, key_id: ObjectId, group_id: ObjectId) -> Result<UserKey, HostError> {
        self.inner.rebind_user_key(key_id, group_id)
    }
    fn public_settings(&self) -> Result<PublicSettings, HostError> {
        self.inner.public_settings()
    }
    fn capabilities(&self) -> Result<Capabilities, HostError> {
        self.inner.capabilities()
    }
    fn gateway_reachability(&self) -> Result<GatewayReachability, HostError> {
        self.inner.gateway_reachability()
    }
    fn list_groups(&self, filter: &GroupFilter) -> Result<Vec<Group>, HostError> {
        self.inner.list_groups(filter)
    }
    fn get_group(&self, id: ObjectId) -> Result<Group, HostError> {
        self.inner.get_group(id)
    }
    fn create_group(&self, group: &NewGroup) -> Result<Group, HostError> {
        self.inner.create_group(group)
    }
    fn update_group(&self, id: ObjectId, update: &GroupUpdate) -> Result<Group, HostError> {
        self.inner.update_group(id, update)
    }
    fn delete_group(&self, id: ObjectId) -> Result<(), HostError> {
        self.inner.delete_group(id)
    }
    fn list_group_keys(&self, group_id: ObjectId) -> Result<Vec<UserKey>, HostError> {
        self.inner.list_group_keys(group_id)
    }
    fn list_channels(&self, name: Option<&str>) -> Result<Vec<Channel>, HostError> {
        self.inner.list_channels(name)
    }
    fn get_channel(&self, id: ObjectId) -> Result<Channel, HostError> {
        self.inner.get_channel(id)
    }
    fn create_channel(&self, channel: &NewChannel) -> Result<Channel, HostError> {
        self.inner.create_channel(channel)
    }
    fn update_channel(&self, id: ObjectId, update: &ChannelUpdate) -> Result<Channel, HostError> {
        self.inner.update_channel(id, update)
    }
    fn delete_channel(&self, id: ObjectId) -> Result<(), HostError> {
        self.inner.delete_channel(id)
    }
    fn list_plans(&self) -> Result<Vec<Plan>, HostError> {
        self.inner.list_plans()
    }
    fn create_plan(&self, plan: &NewPlan) -> Result<Plan, HostError> {
        self.inner.create_plan(plan)
    }
    fn update_plan(&self, id: ObjectId, update: &PlanUpdate) -> Result<Plan, HostError> {
        self.inner.update_plan(id, update)
    }
    fn delete_plan(&self, id: ObjectId) -> Result<(), HostError> {
        self.inner.delete_plan(id)
    }
    fn create_account(
        &self,
        account: &NewAccount,
        idempotency_key: Option<&str>,
    ) -> Result<Account, HostError> {
        self.inner.create_account(account, idempotency_key)
    }
    fn create_accounts_batch(
        &self,
        accounts: &[NewAccount],
        idempotency_key: Option<&str>,
    ) -> Result<BatchCreateResult, HostError> {
        self.inner.create_accounts_batch(accounts, idempotency_key)
    }
    fn get_account(&self, id: ObjectId) -> Result<Account, HostError> {
        self.inner.get_account(id)
    }
    fn list_accounts(&self, filter: &AccountFilter) -> Result<Vec<Account>, HostError> {
        self.inner.list_accounts(filter)
    }
    fn update_account(&self, id: ObjectId, update: &AccountUpdate) -> Result<Account, HostError> {
        self.inner.update_account(id, update)
    }
    fn clear_account_error(&self, id: ObjectId) -> Result<Account, HostError> {
        self.inner.clear_account_error(id)
    }
    fn clear_account_temp_unschedulable(&self, id: ObjectId) -> Result<bool, HostError> {
        self.inner.clear_account_temp_unschedulable(id)
    }
    fn delete_account(&self, id: ObjectId) -> Result<(), HostError> {
        self.inner.delete_account(id)
    }
    fn test_account(&self, id: ObjectId, model_id: Option<&str>) -> Result<ProbeResult, HostError> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        self.tests.fetch_add(1, Ordering::SeqCst);
        self.tested.lock().unwrap().push(id);
        let r = self.inner.test_account(id, model_id);
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        r
    }
    fn account_models(&self, id: ObjectId) -> Result<Vec<String>, HostError> {
        self.inner.account_models(id)
    }
    fn find_user_by_email(&self, email: &str) -> Result<Option<User>, HostError> {
        self.inner.find_user_by_email(email)
    }
    fn get_user(&self, id: ObjectId) -> Result<User, HostError> {
        self.inner.get_user(id)
    }
    fn create_user(&self, user: &NewUser) -> Result<User, HostError> {
        self.inner.create_user(user)
    }
    fn update_user(&self, id: ObjectId, update: &UserUpdate) -> Result<User, HostError> {
        self.inner.update_user(id, update)
    }
    fn set_user_balance(
        &self,
        id: ObjectId,
        change: &BalanceChange,
        idempotency_key: Option<&str>,
    ) -> Result<User, HostError> {
        self.inner.set_user_balance(id, change, idempotency_key)
    }
    fn delete_user(&self, id: ObjectId) -> Result<(), HostError> {
        self.inner.delete_user(id)
    }
    fn list_user_keys_admin(&self, user_id: ObjectId) -> Result<Vec<UserKey>, HostError> {
        self.inner.list_user_keys_admin(user_id)
    }
    fn login_user(&self, email: &str, password: &Secret) -> Result<LoginOutcome, HostError> {
        self.inner.login_user(email, password)
    }
    fn create_user_key(
        &self,
        session: &UserSession,
        key: &NewUserKey,
        idempotency_key: Option<&str>,
    ) -> Result<UserKey, HostError> {
        self.inner.create_user_key(session, key, idempotency_key)
    }
    fn list_user_keys(&self, session: &UserSession) -> Result<Vec<UserKey>, HostError> {
        self.inner.list_user_keys(session)
    }
    fn delete_user_key(&self, session: &UserSession, key_id: ObjectId) -> Result<(), HostError> {
        self.inner.delete_user_key(session, key_id)
    }
    fn assign_subscription(
        &self,
        assignment: &SubscriptionAssignment,
    ) -> Result<AssignOutcome, HostError> {
        self.inner.assign_subscription(assignment)
    }
    fn list_subscriptions(
        &self,
        filter: &SubscriptionFilter,
    ) -> Result<Vec<Subscription>, HostError> {
        self.inner.list_subscriptions(filter)
    }
    fn revoke_subscription(&self, id: ObjectId) -> Result<(), HostError> {
        self.inner.revoke_subscription(id)
    }
    fn gateway_models(&self, key: &Secret) -> Result<ModelsProbe, HostError> {
        self.inner.gateway_models(key)
    }
    fn gateway_chat(
        &self,
        key: &Secret,
        request: &ChatProbeRequest,
    ) -> Result<CompletionProbe, HostError> {
        self.inner.gateway_chat(key, request)
    }
}
