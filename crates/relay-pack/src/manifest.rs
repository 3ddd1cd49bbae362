//! Typed manifests of a model pack (SPEC §2): `pack.json` and `providers/<id>.json`.
//!
//! The types derive `Serialize`/`Deserialize` (with `deny_unknown_fields`) so other crates can
//! store and reload them; [`crate::load_dir`] and friends build them through the field-by-field
//! validator instead, which reports every problem at once.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use semver::{Version, VersionReq};
use serde::{Deserialize, Serialize};

pub use relay_domain::{Platform, Severity};

use crate::alias;
use crate::key_hint;

/// `pack.json`: identity and host compatibility of a pack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackManifest {
    /// Stable pack identifier, `^[a-z0-9][a-z0-9-]*$`.
    pub pack_id: String,
    /// Semantic version of the pack.
    pub version: Version,
    /// Human-readable name.
    pub name: String,
    /// Free-text description (may be empty).
    pub description: String,
    /// Semver requirement on the host version, e.g. `>=0.1.100, <0.3.0`.
    pub host_compat: VersionReq,
    /// The pack's default key-health policy (each provider may override it); 3
    /// failures within 60 minutes when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_health: Option<KeyHealthSettings>,
}

/// When the manager takes a failing key out of scheduling (`key_health` in `pack.json`
/// or a provider manifest): `max_failures` failed checks (rate limits not counted)
/// within `window_minutes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyHealthSettings {
    /// Failed checks that disable a key, 1..=100.
    pub max_failures: u32,
    /// The window they must fall in, in minutes, 1..=10080 (a week).
    pub window_minutes: u32,
}

impl KeyHealthSettings {
    /// Largest `max_failures`.
    pub const MAX_FAILURES: u32 = 100;
    /// Largest `window_minutes` (a week).
    pub const MAX_WINDOW_MINUTES: u32 = 10_080;

    /// The domain policy these settings stand for.
    pub fn policy(&self) -> relay_domain::HealthPolicy {
        relay_domain::HealthPolicy {
            max_failures: self.max_failures,
            window_secs: u64::from(self.window_minutes) * 60,
        }
    }
}

/// Host account type of the accounts a provider's keys become.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountType {
    /// A plain upstream API key (the normal case).
    Apikey,
    /// A relay/upstream-type account.
    Upstream,
}

/// Which model name the host uses to look up a price (`billing_model_source` on a channel).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BillingModelSource {
    /// The model name the client requested.
    Requested,
    /// The model name sent upstream.
    Upstream,
    /// The name after the channel's model mapping (host default).
    ChannelMapped,
}

/// How a pricing entry bills (`billing_mode` of a channel pricing entry).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BillingMode {
    /// Per input/output token (default).
    #[default]
    Token,
    /// Per request.
    PerRequest,
    /// Per image.
    Image,
}

/// Unit of a plan's validity period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValidityUnit {
    /// Days.
    Day,
    /// Weeks.
    Week,
    /// Months.
    Month,
}

macro_rules! string_enum {
    ($ty:ty { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            /// Every accepted spelling, in declaration order.
            pub const ALL: &'static [&'static str] = &[$($text),+];

            /// The wire spelling of this value.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }

        impl FromStr for $ty {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    other => Err(format!("\"{other}\" is not one of {}", Self::ALL.join(", "))),
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(AccountType { Apikey => "apikey", Upstream => "upstream" });
string_enum!(BillingModelSource { Requested => "requested", Upstream => "upstream", ChannelMapped => "channel_mapped" });
string_enum!(BillingMode { Token => "token", PerRequest => "per_request", Image => "image" });
string_enum!(ValidityUnit { Day => "day", Week => "week", Month => "month" });

/// Advisory shape of a provider's keys, used only to warn at preview time.
///
/// A key fits the hint when it starts with one of `prefixes` (if any are given) and matches
/// `pattern` as a whole (if given). See [`crate::key_hint`] for the pattern syntax.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyHint {
    /// Accepted key prefixes, e.g. `["sk-"]`; empty means any prefix.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prefixes: Vec<String>,
    /// Whole-key pattern, e.g. `{hex:32}.{alnum:16}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// Text shown to the operator when a key does not fit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl KeyHint {
    /// Whether `key` fits this hint. An unparsable pattern never rejects (validation reports it).
    pub fn matches(&self, key: &str) -> bool {
        let prefix_ok =
            self.prefixes.is_empty() || self.prefixes.iter().any(|p| key.starts_with(p.as_str()));
        let pattern_ok = match &self.pattern {
            None => true,
            Some(pattern) => key_hint::Pattern::parse(pattern).map_or(true, |p| p.matches(key)),
        };
        prefix_ok && pattern_ok
    }
}

/// Settings of the group created for a provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupTemplate {
    /// Billing multiplier, > 0 (sent explicitly: hosts store an omitted value as 0).
    pub rate_multiplier: f64,
    /// Per-subscription daily spend limit in USD; `None` is unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_limit_usd: Option<f64>,
    /// Per-subscription weekly spend limit in USD; `None` is unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weekly_limit_usd: Option<f64>,
    /// Per-subscription monthly spend limit in USD; `None` is unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly_limit_usd: Option<f64>,
}

/// One pricing entry of a channel (prices in USD per token).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPricing {
    /// Model names priced by this entry; a trailing `*` is a prefix wildcard.
    pub models: Vec<String>,
    /// USD per input token, ≥ 0.
    pub input_price: f64,
    /// USD per output token, ≥ 0.
    pub output_price: f64,
    /// Billing mode (default `token`).
    #[serde(default)]
    pub billing_mode: BillingMode,
}

/// Settings of the channel created for a provider's group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelTemplate {
    /// Requested model → upstream model; every target is one of `default_models`.
    pub model_mapping: BTreeMap<String, String>,
    /// Pricing entries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub model_pricing: Vec<ModelPricing>,
    /// Which model name prices are looked up by; `None` leaves the host default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_model_source: Option<BillingModelSource>,
    /// Serve only priced models (then every default model must be priced).
    #[serde(default)]
    pub restrict_models: bool,
}

/// Settings of the subscription plan created in subscription mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanTemplate {
    /// Plan price, > 0.
    pub price: f64,
    /// Number of `validity_unit`s a subscription lasts, > 0.
    pub validity_days: u32,
    /// Unit of `validity_days`.
    pub validity_unit: ValidityUnit,
}

/// What the vendor's upstream supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    /// `POST /chat/completions`.
    pub chat_completions: bool,
    /// `POST /responses`.
    pub responses_api: bool,
    /// An Anthropic Messages compatible endpoint.
    pub anthropic_messages: bool,
    /// Server-sent event streaming.
    pub stream: bool,
    /// Tool / function calls.
    pub tools: bool,
}

/// An advisory note for hosts whose version matches `host_version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostOverlay {
    /// Semver requirement selecting the host versions the note applies to.
    pub host_version: VersionReq,
    /// The note shown in preview and doctor output.
    pub note: String,
    /// Severity (default `info`).
    #[serde(default)]
    pub severity: Severity,
}

/// The host's native platform for a vendor, used instead of `platform` on hosts whose
/// version satisfies `host_version` (`"native_platform": {"platform": "deepseek",
/// "host_version": ">=0.1.178"}`). `platform` stays the fallback for older hosts, and
/// an install keeps the platform its group already has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NativePlatform {
    /// One of the host's native CN platforms (`kimi`, `zhipu`, `deepseek`).
    pub platform: Platform,
    /// Semver requirement on the host version for the platform to exist there.
    pub host_version: VersionReq,
}

/// `providers/<provider_id>.json`: everything needed to wire one vendor into a host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderManifest {
    /// Identifier, `^[a-z0-9][a-z0-9-]*$`, equal to the manifest's file stem.
    pub provider_id: String,
    /// Human-readable name.
    pub display_name: String,
    /// Host platform of the group and accounts (the fallback when `native_platform`
    /// is set and the host lacks it).
    pub platform: Platform,
    /// The host's native platform for this vendor, on hosts that have it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native_platform: Option<NativePlatform>,
    /// Host account type of the accounts.
    pub account_type: AccountType,
    /// Upstream base URL (`https://` only).
    pub base_url: String,
    /// Models the provider serves (non-empty, canonical vendor ids).
    pub default_models: Vec<String>,
    /// Model used for account tests and gateway probes; one of `default_models`.
    pub smoke_test_model: String,
    /// What users type → canonical id in `default_models`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub model_aliases: BTreeMap<String, String>,
    /// Advisory key shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_hint: Option<KeyHint>,
    /// Group settings.
    pub group_template: GroupTemplate,
    /// Channel settings.
    pub channel_template: ChannelTemplate,
    /// Subscription plan settings.
    pub plan_template: PlanTemplate,
    /// Upstream capabilities.
    pub capabilities: Capabilities,
    /// Create accounts with `openai_responses_mode = force_chat_completions`.
    pub force_disable_openai_responses_api: bool,
    /// Advisory notes keyed by host version range.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub host_overlays: Vec<HostOverlay>,
    /// This provider's key-health policy: its own `key_health`, else the pack's (the
    /// loader copies the pack's default in); the domain default when both are absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_health: Option<KeyHealthSettings>,
}

impl ProviderManifest {
    /// The key-health policy of this provider (the domain default, 3 failures within
    /// one hour, when neither the provider nor its pack sets one).
    pub fn health_policy(&self) -> relay_domain::HealthPolicy {
        self.key_health.map(|k| k.policy()).unwrap_or_default()
    }

    /// Resolves what a user typed to a canonical model id of this provider.
    ///
    /// Both sides are compared after [`alias::normalize_model_name`] (case, spaces, `_` and `-`
    /// runs), first against `default_models`, then against `model_aliases`; a reseller-style
    /// `org/Model` name is retried without its `org/` prefix. `"kimi 2.6"` and `"Kimi-K2.6"`
    /// both give `kimi-k2.6` when the manifest lists the alias and the model.
    pub fn canonical_model(&self, name: &str) -> Option<&str> {
        let wanted = alias::normalize_model_name(name);
        self.lookup_normalized(&wanted).or_else(|| {
            let (_, tail) = wanted.rsplit_once('/')?;
            self.lookup_normalized(tail)
        })
    }

    fn lookup_normalized(&self, wanted: &str) -> Option<&str> {
        if wanted.is_empty() {
            return None;
        }
        if let Some(model) = self
            .default_models
            .iter()
            .find(|m| alias::normalize_model_name(m) == wanted)
        {
            return Some(model.as_str());
        }
        self.model_aliases
            .iter()
            .find(|(alias, _)| alias::normalize_model_name(alias) == wanted)
            .and_then(|(_, target)| self.default_models.iter().find(|m| *m == target))
            .map(String::as_str)
    }

    /// The host overlays whose `host_version` requirement matches `host_version`.
    pub fn overlays_for(&self, host_version: &Version) -> Vec<&HostOverlay> {
        self.host_overlays
            .iter()
            .filter(|o| o.host_version.matches(host_version))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_are_exactly_the_hosts_group_platforms() {
        // sub2api 0.1.179 `CreateGroupRequest.Platform` oneof.
        let mut host = [
            "anthropic",
            "openai",
            "gemini",
            "antigravity",
            "grok",
            "kimi",
            "zhipu",
            "deepseek",
            "composite",
        ];
        let mut ours: Vec<&str> = Platform::ALL.iter().map(|p| p.as_str()).collect();
        host.sort_unstable();
        ours.sort_unstable();
        assert_eq!(ours, host);
        for p in host {
            assert_eq!(p.parse::<Platform>().unwrap().as_str(), p);
        }
        assert!("sora".parse::<Platform>().is_err());
    }

    #[test]
    fn cn_native_platforms_are_the_hosts_cn_providers() {
        // sub2api 0.1.179 `IsCNProvider`: kimi, zhipu, deepseek.
        let native: Vec<&str> = Platform::ALL
            .iter()
            .map(|p| p.as_str())
            .filter(|p| p.parse::<Platform>().unwrap().is_cn_native())
            .collect();
        assert_eq!(native, Platform::CN_NATIVE);
        assert!(!Platform::Openai.is_cn_native());
        assert!(!Platform::Composite.is_cn_native());
    }
}
