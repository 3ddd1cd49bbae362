//! Test harness shared by the integration tests of the flow crates (access,
//! provision, reconcile): a mock host and a client for it, the test pack's
//! manifests, an instrumented adapter, and per-flow environments over the kernel's
//! in-memory fakes. Not published; a dev-dependency only.
#![allow(missing_docs, missing_debug_implementations)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use relay_domain::Secret;
use relay_pack::{
    AccountType, BillingMode, BillingModelSource, Capabilities as PackCaps, ChannelTemplate,
    GroupTemplate, HostOverlay, KeyHint, ModelPricing as PackPricing, PlanTemplate, Platform,
    ProviderManifest, Severity, ValidityUnit,
};
use relay_sub2api::*;

pub mod access;
pub mod provision;
pub mod reconcile;

pub const PACK: &str = "test-pack";
pub const PROVIDER: &str = "deepseek";
pub const SMOKE: &str = "deepseek-flash";
/// The model of the access tests (the smoke model).
pub const MODEL: &str = SMOKE;
/// The vendor base URL of hand-made accounts.
pub const VENDOR_BASE: &str = "https://api.deepseek.com";

pub const GOOD_1: &str = "sk-good-0001aaaaaaaaaaaaaaaaaaaaaaaa";
pub const GOOD_2: &str = "sk-good-0002bbbbbbbbbbbbbbbbbbbbbbbb";
pub const GOOD_3: &str = "sk-good-0003cccccccccccccccccccccccc";
pub const INVALID: &str = "sk-invalid-0004dddddddddddddddddddd";

/// A client of the mock host's admin API.
pub fn client_for(base_url: &str, admin_key: &str, max_read_retries: u32) -> Sub2ApiClient {
    Sub2ApiClient::new(HostConfig {
        base_url: base_url.to_string(),
        auth: AdminAuth::ApiKey(Secret::new(admin_key)),
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(20),
        max_read_retries,
    })
    .expect("client")
}

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
        key_hint: Some(KeyHint {
            prefixes: vec!["sk-".into()],
            pattern: None,
            note: Some("DeepSeek keys start with sk-".into()),
        }),
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
        key_health: None,
    }
}

/// A manifest whose accounts are not forced to Chat Completions.
pub fn responses_manifest() -> ProviderManifest {
    ProviderManifest {
        force_disable_openai_responses_api: false,
        ..manifest()
    }
}

/// Every capability on.
pub fn full_caps() -> Capabilities {
    Capabilities {
        groups: true,
        channels: true,
        plans: true,
        accounts: true,
        account_test: true,
        account_models: true,
        subscriptions: true,
        users: true,
        user_keys: true,
        chat_completions: true,
    }
}

/// Asserts that no secret appears in a serialized report or text.
pub fn assert_no_secrets(text: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!text.contains(s), "secret {s:?} leaked into: {text}");
    }
}

/// Waits (bounded) until the host's asynchronous Responses probe has marked the account.
pub fn wait_for_responses_probe(c: &Sub2ApiClient, id: ObjectId) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        let a = c.get_account(id).expect("account");
        if a.responses_route().probed() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the host never probed account {id}");
}

/// A hook run before every gateway chat.
pub type ChatHook = Box<dyn Fn(&Sub2ApiClient) + Send + Sync>;
/// A hook run before every account test.
pub type TestHook = Box<dyn Fn(&Sub2ApiClient, ObjectId) + Send + Sync>;
/// A hook that may change the accounts of a batch create before it is sent.
pub type BatchHook = Box<dyn Fn(&mut Vec<NewAccount>) + Send + Sync>;

/// Counts concurrent account tests and can run a hook before gateway chats.
#[derive(Default)]
pub struct Instruments {
    in_flight: AtomicUsize,
    pub max_tests_in_flight: AtomicUsize,
    pub tests: AtomicUsize,
    pub creates: AtomicUsize,
    pub batch_creates: AtomicUsize,
    pub before_batch: Mutex<Option<BatchHook>>,
    /// Single creates fail as the host's do when binding the groups fails after the
    /// insert: the account is left without groups and the answer is a 500.
    pub orphaning_creates: std::sync::atomic::AtomicBool,
    pub before_chat: Mutex<Option<ChatHook>>,
    pub before_test: Mutex<Option<TestHook>>,
    /// Every account tested, in order.
    pub tested: Mutex<Vec<ObjectId>>,
}

/// A `HostAdapter` that delegates to the real client and records what the tests
/// need to observe.
pub struct Instrumented {
    pub inner: Sub2ApiClient,
    pub i: Instruments,
}

impl Instrumented {
    /// The real client, uninstrumented.
    pub fn new(inner: Sub2ApiClient) -> Self {
        Instrumented {
            inner,
            i: Instruments::default(),
        }
    }
}

impl HostAdapter for Instrumented {
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
        self.i.creates.fetch_add(1, Ordering::SeqCst);
        if self.i.orphaning_creates.swap(false, Ordering::SeqCst) {
            let mut orphan = account.clone();
            orphan.group_ids.clear();
            // The host's key records a failed execution: a retry runs again.
            let _ = idempotency_key;
            self.inner.create_account(&orphan, None)?;
            return Err(HostError::Host {
                status: 500,
                code: None,
                message: "internal error".into(),
                metadata: Default::default(),
            });
        }
        self.inner.create_account(account, idempotency_key)
    }
    fn create_accounts_batch(
        &self,
        accounts: &[NewAccount],
        idempotency_key: Option<&str>,
    ) -> Result<BatchCreateResult, HostError> {
        self.i.batch_creates.fetch_add(1, Ordering::SeqCst);
        let mut accounts = accounts.to_vec();
        if let Some(hook) = self.i.before_batch.lock().unwrap().as_ref() {
            hook(&mut accounts);
        }
        self.inner.create_accounts_batch(&accounts, idempotency_key)
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
        if let Some(hook) = self.i.before_test.lock().unwrap().as_ref() {
            hook(&self.inner, id);
        }
        let now = self.i.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.i.max_tests_in_flight.fetch_max(now, Ordering::SeqCst);
        self.i.tests.fetch_add(1, Ordering::SeqCst);
        self.i.tested.lock().unwrap().push(id);
        let r = self.inner.test_account(id, model_id);
        self.i.in_flight.fetch_sub(1, Ordering::SeqCst);
        r
    }
    fn account_models(&self, id: ObjectId) -> Result<Vec<String>, HostError> {
        self.inner.account_models(id)
    }
    fn sync_upstream_models(&self, id: ObjectId) -> Result<Vec<String>, HostError> {
        self.inner.sync_upstream_models(id)
    }
    fn account_balance(&self, id: ObjectId) -> Result<HostBalance, HostError> {
        self.inner.account_balance(id)
    }
    fn sync_upstream_models_preview(
        &self,
        preview: &UpstreamModelsPreview,
    ) -> Result<Vec<String>, HostError> {
        self.inner.sync_upstream_models_preview(preview)
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
        if let Some(hook) = self.i.before_chat.lock().unwrap().as_ref() {
            hook(&self.inner);
        }
        self.inner.gateway_chat(key, request)
    }
}
