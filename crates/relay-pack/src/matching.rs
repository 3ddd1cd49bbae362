//! Batch auto-import matching and correction (SPEC §5): a line's base URL → a provider of
//! a loaded pack (or an ad-hoc OpenAI-compatible provider when the run allows it), a model
//! hint → a canonical model of that provider, and the model family of the reuse policy.
//!
//! URL matching works on [`BaseUrl`]s (lowercase scheme and host, no default port, no
//! trailing `/`) and tries, for each provider whose base URL has the same host and port:
//!
//! 1. [`MatchRule::Exact`]: the same path;
//! 2. [`MatchRule::TrailingV1`]: the same path once a trailing `/v1` is dropped on either
//!    side (`https://api.deepseek.com/v1` → `https://api.deepseek.com`);
//! 3. [`MatchRule::ProviderPath`]: the line gives only the host (or host + `/v1`) and the
//!    manifest adds its API path (`https://dashscope.aliyuncs.com` →
//!    `…/compatible-mode/v1`, `https://open.bigmodel.cn` → `…/api/paas/v4`).
//!
//! Any other path on a known host (an Anthropic endpoint, a coding-plan path) is not that
//! provider. When no provider has the host, a [`KNOWN_HOSTS`] entry may name the
//! canonical host of the same vendor and region (`api.minimax.chat` → `api.minimaxi.com`,
//! `api.minimaxi.chat` → `api.minimax.io`, `api.kimi.ai` → `api.moonshot.ai`): the
//! steps above then run on that host and the rule is [`MatchRule::RegionVariant`]. Vendor
//! keys are region-bound, so a host is never mapped to another region's provider (a
//! `api.moonshot.ai` line matches `moonshot-global`, never `moonshot`); when the pack
//! lacks the region, the error says which provider serves the vendor's other region.
//! A known host at another path (a coding-plan path, say) is no provider of the pack,
//! so it becomes an ad-hoc provider when the run allows ad-hoc.

use std::fmt;

use relay_domain::batch_input::BaseUrl;
use relay_domain::redact_patterns;
use serde::{Deserialize, Serialize};

use crate::alias::normalize_model_name;
use crate::{is_valid_id, Pack, ProviderManifest};

/// Which rule matched a base URL to a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchRule {
    /// Same host, port and path (after normalisation).
    Exact,
    /// Same once a trailing `/v1` is dropped.
    TrailingV1,
    /// The line gave the host only; the manifest's API path completes it.
    ProviderPath,
    /// A legacy or alias host of the same vendor and region.
    RegionVariant,
    /// No provider of the pack: an ad-hoc OpenAI-compatible provider.
    AdHoc,
}

impl MatchRule {
    /// The stable spelling (`exact`, `trailing_v1`, `provider_path`, `region_variant`,
    /// `ad_hoc`).
    pub fn as_str(self) -> &'static str {
        match self {
            MatchRule::Exact => "exact",
            MatchRule::TrailingV1 => "trailing_v1",
            MatchRule::ProviderPath => "provider_path",
            MatchRule::RegionVariant => "region_variant",
            MatchRule::AdHoc => "ad_hoc",
        }
    }
}

impl fmt::Display for MatchRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A host the matcher knows, with its vendor, region and canonical host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownHost {
    /// The host as written in a URL.
    pub host: &'static str,
    /// Vendor (the provider id of the pack without its region suffix).
    pub vendor: &'static str,
    /// Region label (`cn`, `global`, `intl`, `us`).
    pub region: &'static str,
    /// The host of the vendor's current API for that region.
    pub canonical: &'static str,
}

const fn known(
    host: &'static str,
    vendor: &'static str,
    region: &'static str,
    canonical: &'static str,
) -> KnownHost {
    KnownHost {
        host,
        vendor,
        region,
        canonical,
    }
}

/// The vendor hosts of reference cn-providers §0–§6 and their legacy or alias hosts.
pub const KNOWN_HOSTS: &[KnownHost] = &[
    known("api.deepseek.com", "deepseek", "global", "api.deepseek.com"),
    known("api.moonshot.cn", "moonshot", "cn", "api.moonshot.cn"),
    known("api.moonshot.ai", "moonshot", "global", "api.moonshot.ai"),
    // Listed by a third party as an alias of the global host.
    known("api.kimi.ai", "moonshot", "global", "api.moonshot.ai"),
    known("api.minimaxi.com", "minimax", "cn", "api.minimaxi.com"),
    known("api.minimax.io", "minimax", "global", "api.minimax.io"),
    // Legacy hosts still found in client code.
    known("api.minimax.chat", "minimax", "cn", "api.minimaxi.com"),
    known("api.minimaxi.chat", "minimax", "global", "api.minimax.io"),
    known(
        "dashscope.aliyuncs.com",
        "qwen",
        "cn",
        "dashscope.aliyuncs.com",
    ),
    known(
        "dashscope-intl.aliyuncs.com",
        "qwen",
        "intl",
        "dashscope-intl.aliyuncs.com",
    ),
    known(
        "dashscope-us.aliyuncs.com",
        "qwen",
        "us",
        "dashscope-us.aliyuncs.com",
    ),
    known("open.bigmodel.cn", "glm", "cn", "open.bigmodel.cn"),
    known("api.z.ai", "glm", "global", "api.z.ai"),
    known("api.stepfun.com", "stepfun", "cn", "api.stepfun.com"),
    known("api.stepfun.ai", "stepfun", "global", "api.stepfun.ai"),
];

/// The [`KNOWN_HOSTS`] entry of `host`.
pub fn known_host(host: &str) -> Option<&'static KnownHost> {
    KNOWN_HOSTS.iter().find(|k| k.host == host)
}

/// The vendor of a provider id: the id without a region suffix (`-global`, `-intl`,
/// `-cn`, `-us`), so `moonshot-global` and `moonshot` are one vendor.
pub fn vendor_of(provider_id: &str) -> &str {
    ["-global", "-intl", "-cn", "-us"]
        .iter()
        .find_map(|s| provider_id.strip_suffix(s))
        .unwrap_or(provider_id)
}

/// An OpenAI-compatible provider made for a URL no provider of the pack serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdHocProvider {
    /// `adhoc-<host>[-<port>]`, dots and colons turned into `-`.
    pub provider_id: String,
    /// The normalised base URL (`https://`, or `http://` to a loopback host).
    pub base_url: String,
}

/// The provider a line goes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MatchedProvider {
    /// A provider of the pack.
    Pack {
        /// Its id.
        provider_id: String,
    },
    /// An ad-hoc provider.
    AdHoc(AdHocProvider),
}

/// A matched base URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderMatch {
    /// The provider.
    pub provider: MatchedProvider,
    /// Which rule matched.
    pub rule: MatchRule,
    /// The base URL the provider uses (the manifest's, or the ad-hoc one).
    pub base_url: String,
    /// What happened, for people: `https://api.deepseek.com/v1 → deepseek (trailing /v1)`.
    pub detail: String,
}

impl ProviderMatch {
    /// The provider id (of the pack, or `adhoc-…`).
    pub fn provider_id(&self) -> &str {
        match &self.provider {
            MatchedProvider::Pack { provider_id } => provider_id,
            MatchedProvider::AdHoc(a) => &a.provider_id,
        }
    }
}

/// Why a base URL matched no provider.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatchError {
    /// No provider of the pack serves the URL and ad-hoc providers are not allowed.
    #[error(
        "no provider of pack {pack_id} serves {url}: add a provider to the pack or allow ad-hoc{}",
        note.as_deref().map(|n| format!(" ({n})")).unwrap_or_default()
    )]
    NoProvider {
        /// The pack.
        pack_id: String,
        /// The normalised URL (key-shaped text redacted).
        url: String,
        /// Why a near provider does not fit, when there is one.
        note: Option<String>,
    },
    /// Ad-hoc was allowed, but no valid provider id can be made from the host.
    #[error("no ad-hoc provider id can be made from the host of {url}: use a host name")]
    AdHocId {
        /// The normalised URL (key-shaped text redacted).
        url: String,
    },
    /// Ad-hoc was allowed, but the URL breaks the base-URL policy of packs
    /// ([`crate::check_base_url`]: https only unless loopback, no credentials, …).
    #[error("no ad-hoc provider for {url}: {reason}")]
    AdHocUrl {
        /// The normalised URL (key-shaped text redacted).
        url: String,
        /// What the policy refuses.
        reason: String,
    },
}

fn strip_v1(path: &str) -> &str {
    path.strip_suffix("/v1").unwrap_or(path)
}

fn path_rule(line: &str, manifest: &str) -> Option<MatchRule> {
    if line == manifest {
        Some(MatchRule::Exact)
    } else if strip_v1(line) == strip_v1(manifest) {
        Some(MatchRule::TrailingV1)
    } else if strip_v1(line).is_empty() {
        Some(MatchRule::ProviderPath)
    } else {
        None
    }
}

/// The best provider of `pack` on `host`/`port` for `path`, with its rule; also whether
/// any provider has the host at all.
fn match_on_host<'p>(
    pack: &'p Pack,
    host: &str,
    port: Option<u16>,
    path: &str,
) -> (
    Option<(&'p ProviderManifest, MatchRule)>,
    Option<&'p ProviderManifest>,
) {
    let mut best: Option<(&ProviderManifest, MatchRule)> = None;
    let mut same_host = None;
    for provider in &pack.providers {
        let Ok(url) = BaseUrl::parse(&provider.base_url) else {
            continue;
        };
        if url.host != host || url.port != port {
            continue;
        }
        same_host.get_or_insert(provider);
        let Some(rule) = path_rule(path, &url.path) else {
            continue;
        };
        let rank = |r: MatchRule| r as u8;
        if best.is_none_or(|(_, b)| rank(rule) < rank(b)) {
            best = Some((provider, rule));
        }
    }
    (best, same_host)
}

/// The ad-hoc provider id of a URL: `adhoc-` + host (+ `-port`), every run of
/// characters other than `[a-z0-9]` turned into one `-`.
pub fn adhoc_provider_id(url: &BaseUrl) -> Option<String> {
    let mut raw = format!("adhoc-{}", url.host);
    if let Some(port) = url.port {
        raw.push_str(&format!("-{port}"));
    }
    let mut id = String::with_capacity(raw.len());
    for c in raw.chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            id.push(c);
        } else if !id.ends_with('-') {
            id.push('-');
        }
    }
    let id = id.trim_end_matches('-').to_owned();
    (is_valid_id(&id) && id.len() > "adhoc-".len()).then_some(id)
}

/// Matches a line's base URL to a provider of `pack` (see the module documentation);
/// with `allow_adhoc`, a URL no provider serves gets an [`AdHocProvider`].
pub fn match_base_url(
    pack: &Pack,
    url: &BaseUrl,
    allow_adhoc: bool,
) -> Result<ProviderMatch, MatchError> {
    let shown = url.to_string();
    let (best, same_host) = match_on_host(pack, &url.host, url.port, &url.path);
    let found = best.map(|(p, rule)| (p, rule, None)).or_else(|| {
        let k = known_host(&url.host)?;
        if k.canonical == k.host || url.port.is_some() {
            return None;
        }
        let (best, _) = match_on_host(pack, k.canonical, None, &url.path);
        best.map(|(p, _)| (p, MatchRule::RegionVariant, Some(k)))
    });
    if let Some((provider, rule, variant)) = found {
        let why = match variant {
            Some(k) => format!(
                "{} is an alias of {} ({} region), region variant",
                k.host, k.canonical, k.region
            ),
            None => match rule {
                MatchRule::Exact => "exact".to_owned(),
                MatchRule::TrailingV1 => "trailing /v1".to_owned(),
                _ => format!("the provider's API path {}", provider_path(provider)),
            },
        };
        return Ok(ProviderMatch {
            provider: MatchedProvider::Pack {
                provider_id: provider.provider_id.clone(),
            },
            rule,
            base_url: provider.base_url.clone(),
            detail: format!("{shown} → {} ({why})", provider.provider_id),
        });
    }
    if allow_adhoc {
        let provider_id =
            adhoc_provider_id(url).ok_or_else(|| MatchError::AdHocId { url: shown.clone() })?;
        let base_url = format!("{}{}", url.origin(), url.path);
        crate::check_base_url(&base_url).map_err(|reason| MatchError::AdHocUrl {
            reason: reason.replace(&base_url, &shown),
            url: shown.clone(),
        })?;
        return Ok(ProviderMatch {
            detail: format!("{shown} → {provider_id} (ad-hoc OpenAI-compatible provider)"),
            provider: MatchedProvider::AdHoc(AdHocProvider {
                provider_id,
                base_url: base_url.clone(),
            }),
            rule: MatchRule::AdHoc,
            base_url,
        });
    }
    Err(MatchError::NoProvider {
        pack_id: pack.manifest.pack_id.clone(),
        url: shown,
        note: no_match_note(pack, url, same_host),
    })
}

fn provider_path(provider: &ProviderManifest) -> String {
    BaseUrl::parse(&provider.base_url)
        .map(|u| u.path)
        .unwrap_or_default()
}

fn no_match_note(
    pack: &Pack,
    url: &BaseUrl,
    same_host: Option<&ProviderManifest>,
) -> Option<String> {
    let path = relay_domain::batch_input::shown_url_text(&url.path);
    let path_note = |host: &str, p: &ProviderManifest| {
        format!(
            "{host} is served by {} at {}, but not at the path \"{path}\"",
            p.provider_id, p.base_url
        )
    };
    if let Some(p) = same_host {
        return Some(path_note(&url.host, p));
    }
    let k = known_host(&url.host)?;
    if url.port.is_none() {
        if let (_, Some(p)) = match_on_host(pack, k.canonical, None, &url.path) {
            return Some(format!(
                "{} is an alias of {}; {}",
                k.host,
                k.canonical,
                path_note(k.canonical, p)
            ));
        }
    }
    let other = pack
        .providers
        .iter()
        .find(|p| vendor_of(&p.provider_id) == k.vendor)?;
    Some(format!(
        "{} is the {} region of {}; the pack's {} serves another region, and keys are \
         region-bound",
        k.host, k.region, k.vendor, other.provider_id
    ))
}

/// How a model hint became the canonical model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CorrectionKind {
    /// The hint is a model id of the provider as typed.
    AsGiven,
    /// Only case, spaces, `_`, `-` or `.` differ.
    Normalised,
    /// Through the provider's `model_aliases`.
    Alias,
    /// After dropping a vendor prefix (`moonshot/…`, `minimax m3`).
    VendorPrefix,
    /// The line had no hint: the provider's smoke model.
    NoHint,
    /// The hint names no model of the pack: the provider's smoke model, with a warning.
    UnknownHint,
    /// An ad-hoc provider: the hint is used as typed.
    PassThrough,
}

impl CorrectionKind {
    fn label(self) -> &'static str {
        match self {
            CorrectionKind::AsGiven => "as given",
            CorrectionKind::Normalised => "case and separators",
            CorrectionKind::Alias => "alias",
            CorrectionKind::VendorPrefix => "vendor prefix",
            CorrectionKind::NoHint => "no hint",
            CorrectionKind::UnknownHint => "unknown hint",
            CorrectionKind::PassThrough => "ad-hoc, as given",
        }
    }
}

/// The model chosen for a line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelChoice {
    /// The canonical model id.
    pub model: String,
    /// The hint as typed (key-shaped text redacted), if any.
    pub hint: Option<String>,
    /// How the hint became the model.
    pub kind: CorrectionKind,
    /// `"kimi 2.6" → "kimi-k2.6" (alias)` when the model differs from the hint.
    pub correction: Option<String>,
    /// A warning to show with the item (an unknown hint).
    pub warning: Option<String>,
}

/// A model hint that names a model of another vendor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelHintError {
    /// The hint is a model of another vendor's provider.
    #[error(
        "model hint \"{hint}\" names {model} of {other_provider} ({other_name}), not a model \
         of {provider}: fix the hint or the line's base URL"
    )]
    OtherVendor {
        /// The hint (key-shaped text redacted).
        hint: String,
        /// The other vendor's canonical model.
        model: String,
        /// The provider the line matched.
        provider: String,
        /// The provider whose model it is.
        other_provider: String,
        /// Its display name.
        other_name: String,
    },
    /// An ad-hoc provider has no smoke model, so its line needs a hint.
    #[error("ad-hoc provider {provider} has no default model: add a model hint after the key")]
    AdHocWithoutHint {
        /// The ad-hoc provider id.
        provider: String,
    },
}

/// Separators and dots dropped: the loosest comparison form.
fn squash(normalised: &str) -> String {
    normalised.chars().filter(|c| !"-.".contains(*c)).collect()
}

/// The canonical model of `provider` for an already normalised name, with how.
fn lookup(provider: &ProviderManifest, wanted: &str) -> Option<(String, CorrectionKind)> {
    if wanted.is_empty() {
        return None;
    }
    if let Some(m) = provider
        .default_models
        .iter()
        .find(|m| normalize_model_name(m) == wanted)
    {
        return Some((m.clone(), CorrectionKind::Normalised));
    }
    if let Some(target) = provider
        .model_aliases
        .iter()
        .find(|(a, _)| normalize_model_name(a) == wanted)
        .map(|(_, t)| t)
        .filter(|t| provider.default_models.contains(t))
    {
        return Some((target.clone(), CorrectionKind::Alias));
    }
    // Dots as separators (`kimi-k2-6`, `glm 46`): only when exactly one target fits.
    let loose = squash(wanted);
    let mut hits: Vec<(String, CorrectionKind)> = provider
        .default_models
        .iter()
        .filter(|m| squash(&normalize_model_name(m)) == loose)
        .map(|m| (m.clone(), CorrectionKind::Normalised))
        .chain(
            provider
                .model_aliases
                .iter()
                .filter(|(a, t)| {
                    squash(&normalize_model_name(a)) == loose && provider.default_models.contains(t)
                })
                .map(|(_, t)| (t.clone(), CorrectionKind::Alias)),
        )
        .collect();
    hits.sort();
    hits.dedup_by(|a, b| a.0 == b.0);
    (hits.len() == 1).then(|| hits.remove(0))
}

/// Vendor words a hint may start with for `provider`: its vendor id and the first word
/// of its display name (`moonshot` for `Moonshot Kimi (China)`, `zhipu` for GLM).
fn vendor_prefixes(provider: &ProviderManifest) -> Vec<String> {
    let mut out = vec![vendor_of(&provider.provider_id).to_owned()];
    if let Some(word) = provider.display_name.split_whitespace().next() {
        let word = normalize_model_name(word);
        if !out.contains(&word) {
            out.push(word);
        }
    }
    out
}

/// Full lookup: as normalised, then without an `org/` prefix or a vendor word.
fn resolve_in(provider: &ProviderManifest, hint: &str) -> Option<(String, CorrectionKind)> {
    let wanted = normalize_model_name(hint);
    if let Some(found) = lookup(provider, &wanted) {
        return Some(found);
    }
    let tail = wanted.rsplit_once('/').map(|(_, t)| t);
    let stripped = vendor_prefixes(provider).into_iter().find_map(|v| {
        let rest = wanted.strip_prefix(&v)?;
        Some(rest.strip_prefix(['-', '/']).unwrap_or(rest).to_owned())
    });
    tail.map(str::to_owned)
        .into_iter()
        .chain(stripped)
        .find_map(|t| lookup(provider, &t))
        .map(|(m, _)| (m, CorrectionKind::VendorPrefix))
}

fn shown_hint(hint: &str) -> String {
    redact_patterns(hint.trim())
        .chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .take(120)
        .collect()
}

fn correction(hint: &str, model: &str, kind: CorrectionKind) -> Option<String> {
    (hint != model).then(|| format!("\"{hint}\" → \"{model}\" ({})", kind.label()))
}

/// Resolves a line's model hint for a provider of `pack` (see [`CorrectionKind`]).
///
/// The provider's models and aliases come first, then those of the same vendor's other
/// regions (when the model is also one of this provider's). A hint that names another
/// vendor's model is an error; any other unknown hint falls back to the provider's
/// smoke model with a warning.
pub fn resolve_model_hint(
    pack: &Pack,
    provider: &ProviderManifest,
    hint: Option<&str>,
) -> Result<ModelChoice, ModelHintError> {
    let smoke = || provider.smoke_test_model.clone();
    let Some(raw) = hint.map(str::trim).filter(|h| !h.is_empty()) else {
        return Ok(ModelChoice {
            model: smoke(),
            hint: None,
            kind: CorrectionKind::NoHint,
            correction: None,
            warning: None,
        });
    };
    let shown = shown_hint(raw);
    let choice = |model: String, kind: CorrectionKind| ModelChoice {
        correction: correction(&shown, &model, kind),
        kind,
        model,
        hint: Some(shown.clone()),
        warning: None,
    };
    if provider.default_models.iter().any(|m| m == raw) {
        return Ok(choice(raw.to_owned(), CorrectionKind::AsGiven));
    }
    if let Some((model, kind)) = resolve_in(provider, raw) {
        return Ok(choice(model, kind));
    }
    let vendor = vendor_of(&provider.provider_id);
    let others = pack
        .providers
        .iter()
        .filter(|p| p.provider_id != provider.provider_id);
    let mut foreign = None;
    for other in others {
        let Some((model, kind)) = resolve_in(other, raw) else {
            continue;
        };
        if vendor_of(&other.provider_id) == vendor {
            if provider.default_models.contains(&model) {
                return Ok(choice(model, kind));
            }
        } else if foreign.is_none() {
            foreign = Some((other, model));
        }
    }
    if let Some((other, model)) = foreign {
        return Err(ModelHintError::OtherVendor {
            hint: shown,
            model,
            provider: provider.provider_id.clone(),
            other_provider: other.provider_id.clone(),
            other_name: other.display_name.clone(),
        });
    }
    Ok(ModelChoice {
        model: smoke(),
        warning: Some(format!(
            "unknown model hint \"{shown}\", using the provider's default smoke model \"{}\"",
            provider.smoke_test_model
        )),
        hint: Some(shown),
        kind: CorrectionKind::UnknownHint,
        correction: None,
    })
}

/// Resolves a model hint for an ad-hoc provider: a model of the pack is corrected to its
/// canonical id (resellers serve vendor ids); any other hint is used as typed. A line
/// without a hint is an error (an ad-hoc provider has no smoke model).
pub fn resolve_adhoc_model(
    pack: &Pack,
    adhoc: &AdHocProvider,
    hint: Option<&str>,
) -> Result<ModelChoice, ModelHintError> {
    let Some(raw) = hint.map(str::trim).filter(|h| !h.is_empty()) else {
        return Err(ModelHintError::AdHocWithoutHint {
            provider: adhoc.provider_id.clone(),
        });
    };
    let shown = shown_hint(raw);
    let (model, kind) = pack
        .providers
        .iter()
        .find_map(|p| {
            if p.default_models.iter().any(|m| m == raw) {
                Some((raw.to_owned(), CorrectionKind::AsGiven))
            } else {
                resolve_in(p, raw)
            }
        })
        .unwrap_or_else(|| (raw.to_owned(), CorrectionKind::PassThrough));
    Ok(ModelChoice {
        correction: correction(&shown, &model, kind),
        hint: Some(shown),
        model,
        kind,
        warning: None,
    })
}

/// The model family of a canonical model id, the third part of the reuse-policy key
/// (`provider_id + key fingerprint + family`).
///
/// Rule: the id is normalised ([`normalize_model_name`]: lowercase, runs of spaces, `_`
/// and `-` → one `-`), an `org/` prefix is dropped, and then trailing snapshot suffixes
/// are dropped while there are any: `-latest`, a date (`-2025-09-23`, `-20250923`) and an
/// all-digit snapshot of 4 or 6 digits (`-0905`, `-2603`, `-202603`). Nothing else is
/// dropped: versions (`kimi-k2.6` vs `kimi-k3`) and variants (`deepseek-chat` vs
/// `deepseek-reasoner`, `-flash`, `-highspeed`, `-preview`) are different families.
pub fn model_family(canonical: &str) -> String {
    let normalised = normalize_model_name(canonical);
    let mut family = normalised
        .rsplit_once('/')
        .map_or(normalised.as_str(), |(_, t)| t)
        .to_owned();
    loop {
        let before = family.len();
        if let Some(rest) = family.strip_suffix("-latest") {
            family = rest.to_owned();
        }
        if let Some(rest) = strip_date(&family) {
            family = rest.to_owned();
        }
        if let Some((rest, last)) = family.rsplit_once('-') {
            if !rest.is_empty()
                && matches!(last.len(), 4 | 6 | 8)
                && last.bytes().all(|b| b.is_ascii_digit())
            {
                family = rest.to_owned();
            }
        }
        if family.len() == before {
            return family;
        }
    }
}

/// `name` without a trailing `-YYYY-MM-DD`.
fn strip_date(name: &str) -> Option<&str> {
    let (rest, day) = name.rsplit_once('-')?;
    let (rest, month) = rest.rsplit_once('-')?;
    let (rest, year) = rest.rsplit_once('-')?;
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    (!rest.is_empty() && digits(year, 4) && digits(month, 2) && digits(day, 2)).then_some(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendors_and_ad_hoc_ids() {
        for (id, vendor) in [
            ("moonshot-global", "moonshot"),
            ("qwen-intl", "qwen"),
            ("glm", "glm"),
            ("acme-cn", "acme"),
            ("qwen-us", "qwen"),
        ] {
            assert_eq!(vendor_of(id), vendor);
        }
        let id = |u: &str| adhoc_provider_id(&BaseUrl::parse(u).unwrap());
        assert_eq!(
            id("https://Router.Example.COM/v1").as_deref(),
            Some("adhoc-router-example-com")
        );
        assert_eq!(
            id("https://a--b.example:8443").as_deref(),
            Some("adhoc-a-b-example-8443")
        );
        assert_eq!(id("http://[::1]").as_deref(), Some("adhoc-1"));
        assert_eq!(id("https://[::]"), None);
        for u in ["https://x.example", "http://127.0.0.1:1"] {
            assert!(is_valid_id(&id(u).unwrap()));
        }
    }

    #[test]
    fn path_rules() {
        assert_eq!(path_rule("/v1", "/v1"), Some(MatchRule::Exact));
        assert_eq!(path_rule("", "/v1"), Some(MatchRule::TrailingV1));
        assert_eq!(path_rule("/v1", ""), Some(MatchRule::TrailingV1));
        assert_eq!(
            path_rule("/v1", "/compatible-mode/v1"),
            Some(MatchRule::ProviderPath)
        );
        assert_eq!(path_rule("", "/api/paas/v4"), Some(MatchRule::ProviderPath));
        assert_eq!(path_rule("/anthropic", "/v1"), None);
        assert_eq!(path_rule("/api/coding/paas/v4", "/api/paas/v4"), None);
    }

    #[test]
    fn known_hosts_name_canonical_hosts_of_the_same_vendor_and_region() {
        for k in KNOWN_HOSTS {
            let canonical = known_host(k.canonical).expect("canonical host is listed");
            assert_eq!(canonical.canonical, canonical.host, "{}", k.host);
            assert_eq!(
                (canonical.vendor, canonical.region),
                (k.vendor, k.region),
                "{}",
                k.host
            );
        }
    }
}
