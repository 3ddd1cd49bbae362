//! Model-list drift: a vendor's live model list compared with a provider manifest.
//!
//! The pack's side is every model id the manifest names as a vendor model: its
//! `default_models` and the upstream side (the values) of its channel
//! `model_mapping`. Ids are compared after [`normalize_model_name`] (case, spaces,
//! `_` and `-` runs), so `DeepSeek-V4-Pro` and `deepseek-v4-pro` are one id.
//!
//! - **added**: the vendor lists it, the pack does not name it;
//! - **retired**: the pack names it, the vendor no longer lists it;
//! - **renamed**: a retired id whose likely successor appeared among the added ids.
//!   The rule: the added id has the same [`model_family`] as the retired one (a new
//!   snapshot, date or `-latest` suffix of the same model: `glm-5-0905` →
//!   `glm-5-2026-01-10`), or one of the manifest's `model_aliases` that targets the
//!   retired id names the added id (the pack already knew the new name as an alias).
//!   Each retired id takes at most one successor (the first such added id in sorted
//!   order), and each added id succeeds at most one retired id;
//! - **unchanged**: named by both.

use serde::{Deserialize, Serialize};

use crate::alias::normalize_model_name;
use crate::manifest::ProviderManifest;
use crate::matching::model_family;

/// A retired id and the added id that likely replaces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rename {
    /// The id the pack names and the vendor no longer lists.
    pub from: String,
    /// The id the vendor lists now.
    pub to: String,
    /// Why they are taken as one model (`same model family "glm-5"`, `pack alias "…"`).
    pub why: String,
}

/// How a provider's pack models compare with the vendor's live list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelDrift {
    /// The vendor lists them, the pack does not name them (sorted).
    pub added: Vec<String>,
    /// The pack names them, the vendor does not list them (sorted).
    pub retired: Vec<String>,
    /// Retired ids with their likely successor.
    pub renamed: Vec<Rename>,
    /// Named by both (the pack's spelling, sorted).
    pub unchanged: Vec<String>,
}

impl ModelDrift {
    /// Whether anything differs.
    pub fn has_drift(&self) -> bool {
        !(self.added.is_empty() && self.retired.is_empty() && self.renamed.is_empty())
    }
}

/// The vendor model ids a provider manifest names: `default_models`, then the upstream
/// side of the channel mapping, each once (first spelling kept).
pub fn pack_models(provider: &ProviderManifest) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let candidates = provider
        .default_models
        .iter()
        .chain(provider.channel_template.model_mapping.values());
    for model in candidates {
        let n = normalize_model_name(model);
        if !n.is_empty() && !out.iter().any(|m| normalize_model_name(m) == n) {
            out.push(model.clone());
        }
    }
    out
}

/// Compares the vendor's live model list with `provider` (see the module docs for
/// the rules).
pub fn model_drift(provider: &ProviderManifest, upstream: &[String]) -> ModelDrift {
    let pack = pack_models(provider);
    let pack_norm: Vec<String> = pack.iter().map(|m| normalize_model_name(m)).collect();
    let mut upstream_ids: Vec<(String, String)> = Vec::new();
    for id in upstream {
        let n = normalize_model_name(id);
        if !n.is_empty() && !upstream_ids.iter().any(|(_, u)| *u == n) {
            upstream_ids.push((id.trim().to_owned(), n));
        }
    }
    let mut added: Vec<String> = upstream_ids
        .iter()
        .filter(|(_, n)| !pack_norm.contains(n))
        .map(|(id, _)| id.clone())
        .collect();
    added.sort();
    let mut retired: Vec<String> = Vec::new();
    let mut unchanged: Vec<String> = Vec::new();
    for (model, n) in pack.iter().zip(&pack_norm) {
        if upstream_ids.iter().any(|(_, u)| u == n) {
            unchanged.push(model.clone());
        } else {
            retired.push(model.clone());
        }
    }
    retired.sort();
    unchanged.sort();

    let mut renamed = Vec::new();
    retired.retain(|old| match successor(provider, old, &added) {
        Some((index, why)) => {
            let to = added.remove(index);
            renamed.push(Rename {
                from: old.clone(),
                to,
                why,
            });
            false
        }
        None => true,
    });
    ModelDrift {
        added,
        retired,
        renamed,
        unchanged,
    }
}

/// The index in `added` of the likely successor of the retired `old`, with the reason.
fn successor(provider: &ProviderManifest, old: &str, added: &[String]) -> Option<(usize, String)> {
    let family = model_family(old);
    if let Some(i) = added.iter().position(|a| model_family(a) == family) {
        return Some((i, format!("same model family \"{family}\"")));
    }
    let old_norm = normalize_model_name(old);
    provider
        .model_aliases
        .iter()
        .filter(|(_, target)| normalize_model_name(target) == old_norm)
        .find_map(|(alias, _)| {
            let alias_norm = normalize_model_name(alias);
            added
                .iter()
                .position(|a| normalize_model_name(a) == alias_norm)
                .map(|i| (i, format!("pack alias \"{alias}\" of \"{old}\"")))
        })
}
