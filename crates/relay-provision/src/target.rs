//! The provider being provisioned on one host, and how its manifest templates
//! become host objects.

use std::collections::{BTreeMap, BTreeSet};

use relay_access::{FORCE_CHAT_COMPLETIONS, RESPONSES_MODE_KEY, RESPONSES_SUPPORTED_KEY};
use relay_domain::naming::{account_name, provider_resource_name};
use relay_domain::{AccessMode, Fingerprint, Secret};
use relay_pack::{ProviderManifest, ValidityUnit};
use relay_sub2api::{
    subscription_type, AccountCredentials, Capabilities, Channel, ChannelModelMapping,
    ModelPricing, NewAccount, NewChannel, NewGroup, NewPlan, ObjectId,
};
use serde_json::{json, Map};

/// One provider of one pack, as seen on one host (the host facts come from the
/// application's stored capability snapshot, so preview stays read-only).
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderTarget {
    /// The pack's `pack_id`.
    pub pack_id: String,
    /// The provider manifest.
    pub provider: ProviderManifest,
    /// The host version, when known (selects the pack's host overlays).
    pub host_version: Option<String>,
    /// The host's capability snapshot.
    pub capabilities: Capabilities,
}

/// Tolerance when comparing prices (USD per token).
const PRICE_EPSILON: f64 = 1e-12;

impl ProviderTarget {
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
            platform: self.provider.platform.as_str().to_string(),
            rate_multiplier: t.rate_multiplier,
            is_exclusive: false,
            subscription_type: expected_subscription_type(mode).to_string(),
            daily_limit_usd: t.daily_limit_usd,
            weekly_limit_usd: t.weekly_limit_usd,
            monthly_limit_usd: t.monthly_limit_usd,
        }
    }

    /// The channel model mapping of the template: `{platform: mapping}` (empty when
    /// the template maps nothing).
    pub fn channel_model_mapping(&self) -> ChannelModelMapping {
        let mapping = &self.provider.channel_template.model_mapping;
        if mapping.is_empty() {
            return ChannelModelMapping::new();
        }
        [(self.provider.platform.as_str().to_string(), mapping.clone())]
            .into_iter()
            .collect()
    }

    /// The channel pricing of the template, for the provider's platform.
    pub fn channel_pricing(&self) -> Vec<ModelPricing> {
        self.provider
            .channel_template
            .model_pricing
            .iter()
            .map(|p| ModelPricing {
                platform: self.provider.platform.as_str().to_string(),
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

    /// The account of one key, bound to `group_id`.
    pub fn new_account(&self, key: &Secret, group_id: ObjectId, batch: &str) -> NewAccount {
        let mut extra = Map::new();
        if self.chat_only() {
            extra.insert(RESPONSES_MODE_KEY.into(), json!(FORCE_CHAT_COMPLETIONS));
            extra.insert(RESPONSES_SUPPORTED_KEY.into(), json!(false));
        }
        NewAccount {
            name: self.account_name(&Fingerprint::of(key.expose())),
            notes: Some(format!("{} (batch {batch})", self.notes())),
            platform: self.provider.platform.as_str().to_string(),
            account_type: self.provider.account_type.as_str().to_string(),
            credentials: AccountCredentials {
                api_key: Some(key.clone()),
                base_url: Some(self.provider.base_url.clone()),
                model_mapping: self.account_model_mapping(),
                other: Map::new(),
            },
            extra,
            group_ids: vec![group_id],
            // Left to the host on purpose: sub2api stores 0 = no limit, and the
            // operator tunes a vendor key's concurrency in the host (reconcile does
            // not treat it as drift). See docs/host-api-notes.md.
            concurrency: None,
            priority: None,
        }
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
    (p.platform.clone(), p.models.iter().cloned().collect())
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

    pub(crate) fn manifest() -> ProviderManifest {
        ProviderManifest {
            provider_id: "deepseek".into(),
            display_name: "DeepSeek".into(),
            platform: Platform::Openai,
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
        }
    }

    fn target() -> ProviderTarget {
        ProviderTarget {
            pack_id: "test-pack".into(),
            provider: manifest(),
            host_version: None,
            capabilities: Capabilities::default(),
        }
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
        assert_eq!(a.extra[RESPONSES_MODE_KEY], FORCE_CHAT_COMPLETIONS);
        assert_eq!(a.extra[RESPONSES_SUPPORTED_KEY], false);
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
