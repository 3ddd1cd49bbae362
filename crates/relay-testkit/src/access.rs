//! The access tests' environment: a mock host, a client, a group with one
//! upstream account, and in-memory ports.

use std::sync::Arc;
use std::time::Duration;

use relay_core::fakes::{FakeClock, MemoryJournal, MemoryVault, TestRandomness};
use relay_core::{
    Clock, Journal, JournalScope, NewEntry, NoObserver, Ports, ProbeSettings, SystemClock,
};
use relay_domain::{BatchId, HostId, PackId, ProviderId, ResourceState, ResourceType, Secret};
use relay_sub2api::*;
use serde_json::{json, Map, Value};
use sub2api_mock::{Faults, MockConfig, MockHost};

use crate::client_for;
pub use crate::{MODEL, VENDOR_BASE};

pub struct Env {
    pub host: MockHost,
    pub client: Sub2ApiClient,
    pub journal: MemoryJournal,
    pub vault: MemoryVault,
    pub random: TestRandomness,
    /// The clock of the probes: real by default ([`Env::virtual_time`] swaps in a
    /// [`FakeClock`] for tests whose only waits are the probe's own backoffs).
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
        let client = client_for(&host.base_url(), host.admin_api_key(), 2);
        let journal = MemoryJournal::new(JournalScope {
            host_id: HostId::new("host_t"),
            pack_id: PackId("test-pack".into()),
            provider_id: ProviderId("deepseek".into()),
            batch_id: Some(BatchId::new("batch_t")),
        });
        Env {
            host,
            client,
            journal,
            vault: MemoryVault::new(),
            random: TestRandomness::new(),
            clock: Arc::new(SystemClock),
        }
    }

    /// Switches the probes to virtual time and returns the clock.
    pub fn virtual_time(&mut self) -> Arc<FakeClock> {
        let clock = Arc::new(FakeClock::new());
        self.clock = clock.clone();
        clock
    }

    pub fn ports(&self) -> Ports<'_> {
        Ports {
            adapter: &self.client,
            journal: &self.journal,
            vault: &self.vault,
            random: &self.random,
            observer: &NoObserver,
            clock: &*self.clock,
        }
    }

    pub fn state_list(&self, kind: &str) -> Vec<Value> {
        self.host.state()[kind]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// A group of `kind` with one managed account holding `upstream_key`
    /// (journaled as created, like an import would).
    pub fn group_with_account(
        &self,
        name: &str,
        kind: &str,
        upstream_key: &str,
        force_chat: bool,
    ) -> (Group, Account) {
        let group = self
            .client
            .create_group(&NewGroup {
                name: name.into(),
                description: None,
                platform: "openai".into(),
                rate_multiplier: 1.0,
                is_exclusive: false,
                subscription_type: kind.into(),
                daily_limit_usd: None,
                weekly_limit_usd: None,
                monthly_limit_usd: None,
            })
            .expect("group");
        let account = self.account_in(
            group.id,
            &format!("deepseek-{}", &name[name.len().saturating_sub(4)..]),
            upstream_key,
            force_chat,
        );
        (group, account)
    }

    pub fn account_in(
        &self,
        group_id: ObjectId,
        name: &str,
        upstream_key: &str,
        force_chat: bool,
    ) -> Account {
        let intent = self
            .journal
            .record_intent(&NewEntry::new(ResourceType::Account, name, json!({})))
            .unwrap();
        let mut new = NewAccount {
            name: name.into(),
            notes: None,
            platform: "openai".into(),
            account_type: "apikey".into(),
            credentials: AccountCredentials {
                api_key: Some(Secret::new(upstream_key)),
                base_url: Some(VENDOR_BASE.into()),
                model_mapping: [(MODEL.to_string(), MODEL.to_string())]
                    .into_iter()
                    .collect(),
                other: Map::new(),
            },
            extra: Map::new(),
            group_ids: vec![group_id],
            concurrency: None,
            priority: None,
        };
        if force_chat {
            new.force_chat_completions();
        }
        let account = self.client.create_account(&new, None).expect("account");
        self.journal
            .attach_host_id(intent.id, account.id, ResourceState::Created)
            .unwrap();
        account
    }

    /// A user with a balance, logged in, holding a key bound to `group_id`.
    pub fn user_with_key(
        &self,
        email: &str,
        group_id: Option<ObjectId>,
        balance: f64,
    ) -> (User, UserKey) {
        let user = self
            .client
            .create_user(&NewUser {
                email: email.into(),
                password: Secret::new("operator-Pa55"),
                username: None,
                notes: None,
                balance: Some(balance),
                concurrency: None,
                allowed_groups: vec![],
            })
            .expect("user");
        let LoginOutcome::LoggedIn(session) = self
            .client
            .login_user(email, &Secret::new("operator-Pa55"))
            .expect("login")
        else {
            panic!("login blocked");
        };
        let key = self
            .client
            .create_user_key(
                &session,
                &NewUserKey {
                    name: "operator".into(),
                    group_id: group_id.unwrap_or(0),
                    custom_key: None,
                },
                None,
            )
            .expect("key");
        (user, key)
    }
}

pub fn settings() -> ProbeSettings {
    ProbeSettings {
        warmup_window: Duration::from_secs(3),
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(400),
        ..ProbeSettings::new(MODEL)
    }
}
