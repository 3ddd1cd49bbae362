//! The provider being provisioned on one host, and how its manifest templates
//! become host objects.

use std::collections::{BTreeMap, BTreeSet};

use relay_domain::naming::{account_name, provider_resource_name};
use relay_domain::{AccessMode, Fingerprint, ResourceState, ResourceType, Secret};
use relay_pack::{parse_host_version, Platform, ProviderManifest, Severity, ValidityUnit};
use relay_sub2api::{
    subscription_type, AccountCredentials, Capabilities, Channel, ChannelModelMapping,
    ModelPricing, NewAccount, NewChannel, NewGroup, NewPlan, ObjectId, Platform as HostPlatform,
};
use serde::Serialize;
use serde_json::Map;

use crate::journal::JournalEntry;

/// An advisory host overlay of the pack that applies to this host version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OverlayNote {
    /// `info` or `warning`.
    pub severity: Severity,
    /// The overlay's text, as the pack wrote it, for the operator to read.
    pub note: String,
}

/// One provider of one pack, as seen on one host (the host facts come from the
/// application's stored capability snapshot and the journal, so preview stays
/// read-only). Build it with [`ProviderTarget::new`], which chooses the platform.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderTarget {
    /// The pack's `pack_id`.
    pub pack_id: String,
    /// The provider's manifest from the pack: models, pricing, templates, base URL.
    pub provider: ProviderManifest,
    /// The host version, when known (selects the pack's host overlays and the
    /// native platform).
    pub host_version: Option<String>,
    /// The host's capability snapshot.
    pub capabilities: Capabilities,
    /// The platform of the provider's group, channel entries and accounts on this
    /// host, and why ([`choose_platform`]).
    pub platform: PlatformChoice,
}

/// Why the provider uses the platform it uses on a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PlatformReason {
    /// The manifest names no native platform: its `platform` is used.
    ManifestPlatform,
    /// The host version satisfies the native platform's requirement.
    NativeSupported {
        /// The host version that satisfies the requirement.
        host_version: String,
        /// The manifest's requirement (`native_platform.host_version`).
        requirement: String,
    },
    /// The host is older than the native platform: the manifest's `platform`.
    HostTooOld {
        /// The host version, older than the requirement.
        host_version: String,
        /// The manifest's requirement.
        requirement: String,
    },
    /// The host version is unknown or not semver, so the native platform cannot be
    /// assumed: the manifest's `platform`.
    HostVersionUnknown {
        /// The version as stored, if any.
        host_version: Option<String>,
        /// The manifest's requirement.
        requirement: String,
    },
    /// The provider already has a group with this platform (recorded by an earlier
    /// import, or found on the host by its name): the install keeps it, since a
    /// group schedules only accounts of its own platform.
    ExistingGroup {
        /// The group's name.
        group: String,
        /// Its host id, when known.
        group_id: Option<ObjectId>,
    },
}

/// The platform chosen for a provider on a host, with the reason. Serialized as
/// `{platform, reason: {kind, …}, explanation}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformChoice {
    /// The host platform the provider's group, channel entries and accounts use.
    pub platform: Platform,
    /// Why that platform (manifest, native support, host too old, existing group, …).
    pub reason: PlatformReason,
}

impl Serialize for PlatformChoice {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("PlatformChoice", 3)?;
        s.serialize_field("platform", &self.platform)?;
        s.serialize_field("reason", &self.reason)?;
        s.serialize_field("explanation", &self.explanation())?;
        s.end()
    }
}

impl PlatformChoice {
    /// True when the platform is one of the host's native CN platforms.
    pub fn is_native(&self) -> bool {
        self.platform.is_cn_native()
    }

    /// One sentence for the operator: which platform and why.
    pub fn explanation(&self) -> String {
        let p = self.platform;
        match &self.reason {
            PlatformReason::ManifestPlatform => {
                format!("platform {p}: the provider's manifest platform")
            }
            PlatformReason::NativeSupported {
                host_version,
                requirement,
            } => format!(
                "platform {p}: the host's native platform for this vendor (host {host_version} satisfies {requirement}); the host routes it over Chat Completions and benches an account whose vendor balance runs low instead of putting it into error"
            ),
            PlatformReason::HostTooOld {
                host_version,
                requirement,
            } => format!(
                "platform {p} with forced Chat Completions: the host {host_version} predates the native platform ({requirement})"
            ),
            PlatformReason::HostVersionUnknown {
                host_version,
                requirement,
            } => format!(
                "platform {p} with forced Chat Completions: the host version {} does not show the native platform ({requirement}); probe the host to record its version",
                host_version.as_deref().unwrap_or("is unknown and")
            ),
            PlatformReason::ExistingGroup { group, group_id } => format!(
                "platform {p}: the provider's group {group}{} already has it, and a group schedules only accounts of its own platform (roll the provider back to move it to another platform)",
                group_id.map(|id| format!(" ({id})")).unwrap_or_default()
            ),
        }
    }
}

/// A group of the provider that already exists (in the journal or on the host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingGroup {
    /// Its name on the host (the provider's deterministic group name).
    pub name: String,
    /// Its host id, when known.
    pub id: Option<ObjectId>,
    /// The host platform the group was created with.
    pub platform: Platform,
}

/// Chooses the provider's platform on a host (the one place this is decided):
/// the platform of an existing group of the provider when it is one the provider
/// can use (`platform` or `native_platform.platform`); else the native platform when
/// the host version satisfies its requirement; else the manifest's `platform`.
pub fn choose_platform(
    provider: &ProviderManifest,
    host_version: Option<&str>,
    existing: Option<&ExistingGroup>,
) -> PlatformChoice {
    let native = provider.native_platform.as_ref();
    if let Some(g) = existing {
        if g.platform == provider.platform || native.is_some_and(|n| n.platform == g.platform) {
            return PlatformChoice {
                platform: g.platform,
                reason: PlatformReason::ExistingGroup {
                    group: g.name.clone(),
                    group_id: g.id,
                },
            };
        }
    }
    let Some(native) = native else {
        return PlatformChoice {
            platform: provider.platform,
            reason: PlatformReason::ManifestPlatform,
        };
    };
    let requirement = native.host_version.to_string();
    let (platform, reason) = match host_version.map(|v| (v, parse_host_version(v))) {
        Some((v, Ok(version))) if native.host_version.matches(&version) => (
            native.platform,
            PlatformReason::NativeSupported {
                host_version: v.trim().to_string(),
                requirement,
            },
        ),
        Some((v, Ok(_))) => (
            provider.platform,
            PlatformReason::HostTooOld {
                host_version: v.trim().to_string(),
                requirement,
            },
        ),
        other => (
            provider.platform,
            PlatformReason::HostVersionUnknown {
                host_version: other.map(|(v, _)| v.to_string()),
                requirement,
            },
        ),
    };
    PlatformChoice { platform, reason }
}

/// The provider's group as the journal records it: the earliest group entry that is
/// on the host (or was about to be created), with the platform its details record
/// (entries without one were made when the manifest's `platform` was the only
/// choice).
pub fn recorded_group(
    provider: &ProviderManifest,
    entries: &[JournalEntry],
) -> Option<ExistingGroup> {
    entries
        .iter()
        .filter(|e| e.resource_type == ResourceType::Group)
        .filter(|e| e.is_live() || e.state == ResourceState::Intent)
        .min_by_key(|e| (e.state == ResourceState::Intent, e.id))
        .map(|e| ExistingGroup {
            name: e.logical_key.clone(),
            id: e.host_resource_id,
            platform: e
                .detail_str("platform")
                .and_then(|p| p.parse::<Platform>().ok())
                .unwrap_or(provider.platform),
        })
}

/// Tolerance when comparing prices (USD per token).
const PRICE_EPSILON: f64 = 1e-12;

impl ProviderTarget {
    /// The provider on a host, its platform chosen from the host version and the
    /// provider's recorded group (`recorded`: the provider's journal on this host).
    pub fn new(
        pack_id: impl Into<String>,
        provider: ProviderManifest,
        host_version: Option<String>,
        capabilities: Capabilities,
        recorded: &[JournalEntry],
    ) -> Self {
        let existing = recorded_group(&provider, recorded);
        let platform = choose_platform(&provider, host_version.as_deref(), existing.as_ref());
        ProviderTarget {
            pack_id: pack_id.into(),
            provider,
            host_version,
            capabilities,
            platform,
        }
    }

    /// The same provider, keeping the platform of a group found on the host (when it
    /// is one the provider can use).
    pub fn with_existing_group(&self, group: &ExistingGroup) -> Self {
        let mut t = self.clone();
        t.platform = choose_platform(&t.provider, t.host_version.as_deref(), Some(group));
        if t.platform.platform != group.platform {
            t.platform = self.platform.clone();
        }
        t
    }

    /// The chosen platform's wire name (`openai`, `deepseek`, …).
    pub fn platform_str(&self) -> &'static str {
        self.platform.platform.as_str()
    }

    /// The chosen platform in the host's vocabulary.
    pub fn host_platform(&self) -> HostPlatform {
        HostPlatform::parse(self.platform_str())
    }

    /// True when accounts are created with the Responses `extra` of a chat-only
    /// provider: never on a native CN platform, which the host routes over Chat
    /// Completions by construction (it writes `extra` itself).
    pub fn forces_chat_completions(&self) -> bool {
        self.chat_only() && !self.platform.is_native()
    }

    /// The provider id.
    pub fn provider_id(&self) -> &str {
        &self.provider.provider_id
    }

    /// Name of the group, channel and plan: `crm-<pack>-<provider>-<sub|self>`.
    pub fn resource_name(&self, mode: AccessMode) -> String {
        provider_resource_name(&self.pack_id, &self.provider.provider_id, mode)
    }

    /// Name of the account of a key: `<provider>-<fingerprint8>`.
    pub fn account_name(&self, fingerprint: &Fingerprint) -> String {
        account_name(&self.provider.provider_id, fingerprint)
    }

    /// Constant notes put on the objects the manager creates (and used as the
    /// subscription notes, so the host's idempotent assign recognises them).
    pub fn notes(&self) -> String {
        format!(
            "managed by relay-manager: {}/{}",
            self.pack_id, self.provider.provider_id
        )
    }

    /// Name of the user keys created for managed subscribers.
    pub fn key_name(&self, mode: AccessMode) -> String {
        format!("{}-key", self.resource_name(mode))
    }

    /// Subscription validity from the plan template, in days
    /// (`day` × 1, `week` × 7, `month` × 30).
    pub fn plan_validity_days(&self) -> u32 {
        let t = &self.provider.plan_template;
        let unit = match t.validity_unit {
            ValidityUnit::Day => 1,
            ValidityUnit::Week => 7,
            ValidityUnit::Month => 30,
        };
        t.validity_days.saturating_mul(unit)
    }

    /// True when accounts must be created chat-only
    /// (`extra.openai_responses_mode = force_chat_completions`).
    pub fn chat_only(&self) -> bool {
        self.provider.force_disable_openai_responses_api
            || !self.provider.capabilities.responses_api
    }

    /// `credentials.model_mapping` of every account: each default model to itself,
    /// plus the channel template's mapping (so aliases route without channels).
    pub fn account_model_mapping(&self) -> BTreeMap<String, String> {
        let mut mapping: BTreeMap<String, String> = self
            .provider
            .default_models
            .iter()
            .map(|m| (m.clone(), m.clone()))
            .collect();
        for (from, to) in &self.provider.channel_template.model_mapping {
            mapping.entry(from.clone()).or_insert_with(|| to.clone());
        }
        mapping
    }

    /// The group to create for `mode`.
    pub fn new_group(&self, mode: AccessMode) -> NewGroup {
        let t = &self.provider.group_template;
        NewGroup {
            name: self.resource_name(mode),
            description: Some(format!("{} — {}", self.provider.display_name, self.notes())),
            platform: self.host_platform(),
            rate_multiplier: t.rate_multiplier,
            is_exclusive: false,
            subscription_type: expected_subscription_type(mode).to_string(),
            daily_limit_usd: t.daily_limit_usd,
            weekly_limit_usd: t.weekly_limit_usd,
            monthly_limit_usd: t.monthly_limit_usd,
        }
    }

    /// The channel model mapping of the template: `{platform: mapping}`, keyed by the
    /// chosen platform (the host looks it up by the group's platform); empty when the
    /// template maps nothing.
    pub fn channel_model_mapping(&self) -> ChannelModelMapping {
        let mapping = &self.provider.channel_template.model_mapping;
        if mapping.is_empty() {
            return ChannelModelMapping::new();
        }
        [(self.platform_str().to_string(), mapping.clone())]
            .into_iter()
            .collect()
    }

    /// The channel pricing of the template, for the chosen platform.
    pub fn channel_pricing(&self) -> Vec<ModelPricing> {
        self.provider
            .channel_template
            .model_pricing
            .iter()
            .map(|p| ModelPricing {
                platform: self.host_platform(),
                models: p.models.clone(),
                billing_mode: p.billing_mode.as_str().to_string(),
                input_price: Some(p.input_price),
                output_price: Some(p.output_price),
                ..ModelPricing::default()
            })
            .collect()
    }

    /// The channel to create, bound to `group_id`.
    pub fn new_channel(&self, mode: AccessMode, group_id: ObjectId) -> NewChannel {
        let t = &self.provider.channel_template;
        NewChannel {
            name: self.resource_name(mode),
            description: Some(self.notes()),
            group_ids: vec![group_id],
            model_mapping: self.channel_model_mapping(),
            model_pricing: self.channel_pricing(),
            restrict_models: t.restrict_models,
            billing_model_source: t.billing_model_source.map(|b| b.as_str().to_string()),
        }
    }

    /// How an existing channel differs from the template (and, when `group_id` is
    /// given, whether it lacks the group). Empty when it matches.
    pub fn channel_differences(
        &self,
        channel: &Channel,
        group_id: Option<ObjectId>,
    ) -> Vec<String> {
        let t = &self.provider.channel_template;
        let mut diffs = Vec::new();
        let want_mapping = self.channel_model_mapping();
        let have_mapping: ChannelModelMapping = channel
            .model_mapping
            .iter()
            .filter(|(_, m)| !m.is_empty())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if have_mapping != want_mapping {
            diffs.push("model_mapping differs from the template".to_string());
        }
        if !pricing_matches(&channel.model_pricing, &self.channel_pricing()) {
            diffs.push("model_pricing differs from the template".to_string());
        }
        if channel.restrict_models != t.restrict_models {
            diffs.push(format!(
                "restrict_models is {} (template: {})",
                channel.restrict_models, t.restrict_models
            ));
        }
        if let Some(b) = t.billing_model_source {
            if channel.billing_model_source != b.as_str() {
                diffs.push(format!(
                    "billing_model_source is {} (template: {})",
                    channel.billing_model_source,
                    b.as_str()
                ));
            }
        }
        if let Some(g) = group_id {
            if !channel.group_ids.contains(&g) {
                diffs.push(format!("group {g} is not bound to the channel"));
            }
        }
        diffs
    }

    /// The plan to create for `group_id` (subscription mode).
    pub fn new_plan(&self, group_id: ObjectId) -> NewPlan {
        let t = &self.provider.plan_template;
        NewPlan {
            group_id,
            name: self.resource_name(AccessMode::Subscription),
            description: Some(self.notes()),
            price: t.price,
            original_price: None,
            validity_days: i64::from(t.validity_days),
            validity_unit: t.validity_unit.as_str().to_string(),
            for_sale: None,
        }
    }

    /// The account of one key, bound to `group_id`, on the chosen platform.
    pub fn new_account(&self, key: &Secret, group_id: ObjectId, batch: &str) -> NewAccount {
        let mut account = NewAccount {
            name: self.account_name(&Fingerprint::of(key.expose())),
            notes: Some(format!("{} (batch {batch})", self.notes())),
            platform: self.host_platform(),
            account_type: self.provider.account_type.as_str().to_string(),
            credentials: AccountCredentials {
                api_key: Some(key.clone()),
                base_url: Some(self.provider.base_url.clone()),
                model_mapping: self.account_model_mapping(),
                other: Map::new(),
            },
            extra: Map::new(),
            group_ids: vec![group_id],
            // Left to the host on purpose: sub2api stores 0 = no limit, and the
            // operator tunes a vendor key's concurrency in the host (reconcile does
            // not treat it as drift). See docs/host-api-notes.md.
            concurrency: None,
            priority: None,
        };
        if self.forces_chat_completions() {
            account.force_chat_completions();
        }
        account
    }
}

/// The group type an access mode needs.
pub fn expected_subscription_type(mode: AccessMode) -> &'static str {
    match mode {
        AccessMode::Subscription => subscription_type::SUBSCRIPTION,
        AccessMode::SelfService => subscription_type::STANDARD,
    }
}

fn price_eq(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => (x - y).abs() <= PRICE_EPSILON,
        (None, None) => true,
        (Some(x), None) | (None, Some(x)) => x.abs() <= PRICE_EPSILON,
    }
}

fn pricing_key(p: &ModelPricing) -> (String, BTreeSet<String>) {
    (p.platform.to_string(), p.models.iter().cloned().collect())
}

/// Order-insensitive comparison of pricing entries (platform, models, billing mode,
/// input and output prices).
pub fn pricing_matches(have: &[ModelPricing], want: &[ModelPricing]) -> bool {
    if have.len() != want.len() {
        return false;
    }
    want.iter().all(|w| {
        have.iter().any(|h| {
            pricing_key(h) == pricing_key(w)
                && (h.billing_mode == w.billing_mode
                    || (h.billing_mode.is_empty() && w.billing_mode == "token"))
                && price_eq(h.input_price, w.input_price)
                && price_eq(h.output_price, w.output_price)
        })
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use relay_pack::{
        AccountType, BillingMode, BillingModelSource, Capabilities as PackCaps, ChannelTemplate,
        GroupTemplate, ModelPricing as PackPricing, PlanTemplate, Platform,
    };
    use serde_json::json;

    pub(crate) fn manifest() -> ProviderManifest {
        ProviderManifest {
            provider_id: "deepseek".into(),
            display_name: "DeepSeek".into(),
            platform: Platform::Openai,
            native_platform: None,
            account_type: AccountType::Apikey,
            base_url: "https://api.deepseek.com".into(),
            default_models: vec!["deepseek-flash".into(), "deepseek-v4-pro".into()],
            smoke_test_model: "deepseek-flash".into(),
            model_aliases: BTreeMap::new(),
            key_hint: None,
            group_template: GroupTemplate {
                rate_multiplier: 1.5,
                daily_limit_usd: None,
                weekly_limit_usd: None,
                monthly_limit_usd: Some(50.0),
            },
            channel_template: ChannelTemplate {
                model_mapping: [("ds-chat".to_string(), "deepseek-flash".to_string())]
                    .into_iter()
                    .collect(),
                model_pricing: vec![PackPricing {
                    models: vec!["deepseek-flash".into(), "deepseek-v4-pro".into()],
                    input_price: 0.000001,
                    output_price: 0.000002,
                    billing_mode: BillingMode::Token,
                }],
                billing_model_source: Some(BillingModelSource::ChannelMapped),
                restrict_models: false,
            },
            plan_template: PlanTemplate {
                price: 10.0,
                validity_days: 2,
                validity_unit: ValidityUnit::Week,
            },
            capabilities: PackCaps {
                chat_completions: true,
                responses_api: true,
                anthropic_messages: false,
                stream: true,
                tools: true,
            },
            force_disable_openai_responses_api: true,
            host_overlays: Vec::new(),
            key_health: None,
        }
    }

    fn target() -> ProviderTarget {
        ProviderTarget::new("test-pack", manifest(), None, Capabilities::default(), &[])
    }

    fn native_manifest() -> ProviderManifest {
        ProviderManifest {
            native_platform: Some(relay_pack::NativePlatform {
                platform: Platform::Deepseek,
                host_version: ">=0.1.178".parse().unwrap(),
            }),
            ..manifest()
        }
    }

    fn group_entry(id: i64, state: ResourceState, details: serde_json::Value) -> JournalEntry {
        JournalEntry {
            id,
            host_id: relay_domain::HostId::new("h"),
            pack_id: relay_domain::PackId("test-pack".into()),
            provider_id: relay_domain::ProviderId("deepseek".into()),
            batch_id: None,
            resource_type: ResourceType::Group,
            host_resource_id: (state != ResourceState::Intent).then_some(40 + id),
            logical_key: "crm-test-pack-deepseek-sub".into(),
            state,
            fingerprint: None,
            details,
        }
    }

    #[test]
    fn the_native_platform_needs_a_host_that_has_it() {
        let m = native_manifest();
        let choose = |v: Option<&str>| choose_platform(&m, v, None);
        let on_179 = choose(Some("0.1.179"));
        assert_eq!(on_179.platform, Platform::Deepseek);
        assert!(on_179.is_native());
        assert_eq!(
            on_179.reason,
            PlatformReason::NativeSupported {
                host_version: "0.1.179".into(),
                requirement: ">=0.1.178".into()
            }
        );
        assert_eq!(choose(Some("v0.1.178")).platform, Platform::Deepseek);
        assert_eq!(choose(Some("0.2.7")).platform, Platform::Deepseek);
        for old in ["0.1.177", "0.1.27", "0.1.131"] {
            let c = choose(Some(old));
            assert_eq!(c.platform, Platform::Openai, "{old}");
            assert!(
                matches!(c.reason, PlatformReason::HostTooOld { .. }),
                "{old}"
            );
            assert!(c.explanation().contains("forced Chat Completions"));
        }
        for unknown in [None, Some("nightly")] {
            let c = choose(unknown);
            assert_eq!(c.platform, Platform::Openai);
            assert!(matches!(
                c.reason,
                PlatformReason::HostVersionUnknown { .. }
            ));
        }
        // No native platform in the manifest: `platform`, whatever the host.
        let plain = choose_platform(&manifest(), Some("0.1.179"), None);
        assert_eq!(
            (plain.platform, plain.reason),
            (Platform::Openai, PlatformReason::ManifestPlatform)
        );
    }

    #[test]
    fn an_existing_group_keeps_its_platform() {
        let m = native_manifest();
        let openai_group = ExistingGroup {
            name: "crm-test-pack-deepseek-sub".into(),
            id: Some(7),
            platform: Platform::Openai,
        };
        // An install made on openai (before the upgrade) is not moved.
        let c = choose_platform(&m, Some("0.1.179"), Some(&openai_group));
        assert_eq!(c.platform, Platform::Openai);
        assert_eq!(
            c.reason,
            PlatformReason::ExistingGroup {
                group: "crm-test-pack-deepseek-sub".into(),
                group_id: Some(7)
            }
        );
        assert!(c.explanation().contains("already has it"));
        // A native group stays native (even if the recorded version looks old).
        let native_group = ExistingGroup {
            platform: Platform::Deepseek,
            ..openai_group.clone()
        };
        assert_eq!(
            choose_platform(&m, Some("0.1.27"), Some(&native_group)).platform,
            Platform::Deepseek
        );
        // A group on a platform the provider cannot use does not decide (the preview
        // reports the clash).
        let foreign = ExistingGroup {
            platform: Platform::Anthropic,
            ..openai_group
        };
        assert_eq!(
            choose_platform(&m, Some("0.1.179"), Some(&foreign)).platform,
            Platform::Deepseek
        );
    }

    #[test]
    fn the_journal_decides_for_an_existing_install() {
        let m = native_manifest();
        let t = |entries: &[JournalEntry]| {
            ProviderTarget::new(
                "test-pack",
                m.clone(),
                Some("0.1.179".into()),
                Capabilities::default(),
                entries,
            )
        };
        assert_eq!(t(&[]).platform.platform, Platform::Deepseek);
        let created = group_entry(
            1,
            ResourceState::Created,
            json!({"platform": "openai", "subscription_type": "subscription"}),
        );
        assert_eq!(
            t(std::slice::from_ref(&created)).platform.platform,
            Platform::Openai
        );
        // A reused group recorded before platforms were recorded: the manifest's
        // `platform` was the only choice then.
        let legacy = group_entry(2, ResourceState::Reused, json!({}));
        assert_eq!(t(&[legacy]).platform.platform, Platform::Openai);
        // Rolled back: a fresh choice.
        let deleted = group_entry(3, ResourceState::Deleted, json!({"platform": "openai"}));
        assert_eq!(t(&[deleted]).platform.platform, Platform::Deepseek);
        // An intent journaled before a crash counts (resume creates that group).
        let intent = group_entry(4, ResourceState::Intent, json!({"platform": "deepseek"}));
        let r = t(&[intent]);
        assert_eq!(r.platform.platform, Platform::Deepseek);
        assert!(matches!(
            r.platform.reason,
            PlatformReason::ExistingGroup { .. }
        ));
        // The first live group wins over a later one.
        let native = group_entry(5, ResourceState::Created, json!({"platform": "deepseek"}));
        assert_eq!(t(&[native, created]).platform.platform, Platform::Openai);
    }

    #[test]
    fn native_accounts_carry_no_responses_extra_and_channels_are_keyed_by_platform() {
        let t = ProviderTarget::new(
            "test-pack",
            native_manifest(),
            Some("0.1.179".into()),
            Capabilities::default(),
            &[],
        );
        assert!(t.chat_only() && !t.forces_chat_completions());
        let a = t.new_account(&Secret::new("sk-abc"), 4, "batch_1");
        assert_eq!(a.platform, "deepseek");
        assert!(a.extra.is_empty(), "{:?}", a.extra);
        assert_eq!(t.new_group(AccessMode::Subscription).platform, "deepseek");
        let c = t.new_channel(AccessMode::Subscription, 9);
        assert_eq!(c.model_mapping["deepseek"]["ds-chat"], "deepseek-flash");
        assert!(!c.model_mapping.contains_key("openai"));
        assert_eq!(c.model_pricing[0].platform, "deepseek");
        // The same provider on an old host: openai with forced chat completions.
        let old = ProviderTarget::new(
            "test-pack",
            native_manifest(),
            Some("0.1.27".into()),
            Capabilities::default(),
            &[],
        );
        let a = old.new_account(&Secret::new("sk-abc"), 4, "batch_1");
        assert_eq!(a.platform, "openai");
        assert!(a.responses_route().forces_chat_completions());
        assert_eq!(a.responses_route().supported, Some(false));
        assert!(old
            .new_channel(AccessMode::Subscription, 9)
            .model_mapping
            .contains_key("openai"));
        // Serialized with its explanation (preview and import reports).
        let v = serde_json::to_value(&t.platform).unwrap();
        assert_eq!(v["platform"], "deepseek");
        assert_eq!(v["reason"]["kind"], "native_supported");
        assert!(v["explanation"].as_str().unwrap().contains("0.1.179"));
    }

    #[test]
    fn names_and_validity() {
        let t = target();
        assert_eq!(
            t.resource_name(AccessMode::Subscription),
            "crm-test-pack-deepseek-sub"
        );
        assert_eq!(
            t.key_name(AccessMode::SelfService),
            "crm-test-pack-deepseek-self-key"
        );
        assert_eq!(t.plan_validity_days(), 14);
        assert_eq!(t.notes(), "managed by relay-manager: test-pack/deepseek");
    }

    #[test]
    fn accounts_map_every_default_model_and_the_channel_aliases() {
        let t = target();
        let m = t.account_model_mapping();
        assert_eq!(m["deepseek-flash"], "deepseek-flash");
        assert_eq!(m["deepseek-v4-pro"], "deepseek-v4-pro");
        assert_eq!(m["ds-chat"], "deepseek-flash");
        let a = t.new_account(&Secret::new("sk-abc"), 4, "batch_1");
        assert_eq!(a.name, t.account_name(&Fingerprint::of("sk-abc")));
        assert!(a.responses_route().forces_chat_completions());
        assert_eq!(a.responses_route().supported, Some(false));
        assert_eq!(a.group_ids, vec![4]);
        let mut open = target();
        open.provider.force_disable_openai_responses_api = false;
        assert!(open.new_account(&Secret::new("k"), 4, "b").extra.is_empty());
        open.provider.capabilities.responses_api = false;
        assert!(open.chat_only());
    }

    #[test]
    fn group_and_channel_follow_the_templates() {
        let t = target();
        let g = t.new_group(AccessMode::Subscription);
        assert_eq!(g.subscription_type, "subscription");
        assert_eq!(g.rate_multiplier, 1.5);
        assert_eq!(g.monthly_limit_usd, Some(50.0));
        assert_eq!(
            t.new_group(AccessMode::SelfService).subscription_type,
            "standard"
        );
        let c = t.new_channel(AccessMode::Subscription, 9);
        assert_eq!(c.model_mapping["openai"]["ds-chat"], "deepseek-flash");
        assert_eq!(c.model_pricing[0].platform, "openai");
        assert_eq!(c.billing_model_source.as_deref(), Some("channel_mapped"));
    }

    #[test]
    fn channel_differences_are_named() {
        let t = target();
        let want = t.new_channel(AccessMode::Subscription, 9);
        let mut ch = Channel {
            id: 3,
            name: want.name.clone(),
            description: String::new(),
            status: "active".into(),
            group_ids: vec![9],
            model_mapping: want.model_mapping.clone(),
            model_pricing: want
                .model_pricing
                .iter()
                .cloned()
                .map(|mut p| {
                    p.models.reverse();
                    p
                })
                .collect(),
            restrict_models: false,
            billing_model_source: "channel_mapped".into(),
        };
        assert!(t.channel_differences(&ch, Some(9)).is_empty());
        assert_eq!(t.channel_differences(&ch, Some(10)).len(), 1);
        ch.model_pricing[0].output_price = Some(0.5);
        ch.model_mapping.clear();
        let d = t.channel_differences(&ch, Some(9));
        assert_eq!(d.len(), 2, "{d:?}");
    }

    proptest::proptest! {
        /// Pricing comparison ignores the order of entries and of models.
        #[test]
        fn pricing_comparison_is_order_insensitive(
            models in proptest::collection::vec("[a-z]{1,6}", 1..5),
            input in 0.0f64..1.0,
            output in 0.0f64..1.0,
        ) {
            let a = ModelPricing {
                platform: "openai".into(),
                models: models.clone(),
                billing_mode: "token".into(),
                input_price: Some(input),
                output_price: Some(output),
                ..ModelPricing::default()
            };
            let mut reversed = a.clone();
            reversed.models.reverse();
            let other = ModelPricing {
                platform: "anthropic".into(),
                ..a.clone()
            };
            proptest::prop_assert!(pricing_matches(&[a.clone(), other.clone()], &[other.clone(), reversed.clone()]));
            let mut dearer = a.clone();
            dearer.output_price = Some(output + 0.5);
            proptest::prop_assert!(!pricing_matches(&[dearer], &[a]));
        }
    }
}
