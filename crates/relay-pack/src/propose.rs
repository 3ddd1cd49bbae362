//! A proposed pack change from a model drift: the pack's files with one provider's
//! models changed, the version bumped, `checksums.txt` regenerated and a
//! `PROPOSAL.md` saying what changed and why. The proposal is validated like any
//! pack before it is returned; nothing is installed.

use std::collections::BTreeMap;

use semver::Version;

use crate::alias::normalize_model_name;
use crate::checksums;
use crate::drift::ModelDrift;
use crate::validate::{PACK_FILE, PROVIDERS_DIR};
use crate::{Pack, PackError, Problem, CHECKSUMS_FILE};

/// The file of a proposal that explains it.
pub const PROPOSAL_FILE: &str = "PROPOSAL.md";

/// A ready-to-review pack directory (as files) and its manifest patch.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    /// Every file of the proposed pack by relative path, `checksums.txt` and
    /// `PROPOSAL.md` included; it passes [`Pack::from_files`].
    pub files: BTreeMap<String, Vec<u8>>,
    /// The installed pack's version.
    pub version_from: String,
    /// The proposed version (the minor part bumped).
    pub version_to: String,
    /// What changed, one line each (also in `PROPOSAL.md`).
    pub changes: Vec<String>,
    /// A unified diff of `pack.json` and the provider's manifest.
    pub patch: String,
}

/// Proposes `pack` with `provider_id`'s models changed per `drift`: renamed ids
/// replaced (in `default_models`, `smoke_test_model`, alias targets, the channel
/// mapping and pricing, with the old id kept as an alias of the new one), retired ids
/// removed (unless that would leave no model), added ids appended to `default_models`
/// and mapped to themselves; the pack's minor version bumped. `source` says where the
/// model list came from (for `PROPOSAL.md`).
pub fn propose(
    pack: &Pack,
    provider_id: &str,
    drift: &ModelDrift,
    source: &str,
) -> Result<Proposal, PackError> {
    let Some(original) = pack.provider(provider_id) else {
        return Err(PackError::Invalid(vec![Problem::new(
            PACK_FILE,
            None,
            format!("the pack has no provider \"{provider_id}\""),
        )]));
    };
    let mut p = original.clone();
    let mut changes = Vec::new();
    let same = |a: &str, b: &str| normalize_model_name(a) == normalize_model_name(b);

    for r in &drift.renamed {
        for m in p.default_models.iter_mut().filter(|m| same(m, &r.from)) {
            *m = r.to.clone();
        }
        if same(&p.smoke_test_model, &r.from) {
            p.smoke_test_model = r.to.clone();
        }
        for target in p.model_aliases.values_mut().filter(|t| same(t, &r.from)) {
            *target = r.to.clone();
        }
        if !p.model_aliases.keys().any(|a| same(a, &r.from)) {
            p.model_aliases.insert(r.from.clone(), r.to.clone());
        }
        let mapping = std::mem::take(&mut p.channel_template.model_mapping);
        for (k, v) in mapping {
            let (k, v) = match (same(&k, &r.from), same(&v, &r.from)) {
                (true, _) => (r.to.clone(), r.to.clone()),
                (false, true) => (k, r.to.clone()),
                (false, false) => (k, v),
            };
            p.channel_template.model_mapping.insert(k, v);
        }
        for pricing in &mut p.channel_template.model_pricing {
            for m in pricing.models.iter_mut().filter(|m| same(m, &r.from)) {
                *m = r.to.clone();
            }
        }
        changes.push(format!("renamed {} → {} ({})", r.from, r.to, r.why));
    }

    let keeps_a_model = p
        .default_models
        .iter()
        .any(|m| !drift.retired.iter().any(|r| same(m, r)))
        || !drift.added.is_empty();
    if keeps_a_model {
        for r in &drift.retired {
            p.default_models.retain(|m| !same(m, r));
            p.model_aliases.retain(|_, t| !same(t, r));
            p.channel_template
                .model_mapping
                .retain(|k, v| !same(k, r) && !same(v, r));
            for pricing in &mut p.channel_template.model_pricing {
                pricing.models.retain(|m| !same(m, r));
            }
            changes.push(format!(
                "retired {r}: removed (the vendor no longer lists it)"
            ));
        }
        p.channel_template
            .model_pricing
            .retain(|pricing| !pricing.models.is_empty());
    } else {
        for r in &drift.retired {
            changes.push(format!(
                "retired {r}: kept, since removing it would leave the provider without a model"
            ));
        }
    }

    for a in &drift.added {
        if !p.default_models.iter().any(|m| same(m, a)) {
            p.default_models.push(a.clone());
        }
        if !p.channel_template.model_mapping.keys().any(|k| same(k, a)) {
            p.channel_template
                .model_mapping
                .insert(a.clone(), a.clone());
        }
        changes.push(format!("added {a} (the vendor lists it)"));
    }
    if !p.default_models.contains(&p.smoke_test_model) {
        if let Some(first) = p.default_models.first() {
            changes.push(format!("smoke_test_model {} → {first}", p.smoke_test_model));
            p.smoke_test_model = first.clone();
        }
    }

    let mut manifest = pack.manifest.clone();
    let version_from = manifest.version.to_string();
    manifest.version = Version::new(manifest.version.major, manifest.version.minor + 1, 0);
    let version_to = manifest.version.to_string();

    let provider_path = format!("{PROVIDERS_DIR}{provider_id}.json");
    let mut files = pack.files.clone();
    let old_provider = text_of(files.get(&provider_path));
    let old_pack = text_of(files.get(PACK_FILE));
    let new_provider = pretty(&p)?;
    let new_pack = pretty(&manifest)?;
    files.insert(provider_path.clone(), new_provider.clone().into_bytes());
    files.insert(PACK_FILE.to_owned(), new_pack.clone().into_bytes());
    files.insert(
        PROPOSAL_FILE.to_owned(),
        proposal_text(pack, provider_id, drift, source, &changes, &version_to).into_bytes(),
    );
    files.remove(CHECKSUMS_FILE);
    let sums = checksums::render(files.iter().map(|(k, v)| (k.as_str(), v.as_slice())));
    files.insert(CHECKSUMS_FILE.to_owned(), sums.into_bytes());
    // The proposal is a pack like any other: refuse to hand out one that fails.
    Pack::from_files(files.clone())?;

    let mut patch = unified_diff(PACK_FILE, &old_pack, &new_pack);
    patch.push_str(&unified_diff(&provider_path, &old_provider, &new_provider));
    Ok(Proposal {
        files,
        version_from,
        version_to,
        changes,
        patch,
    })
}

fn text_of(bytes: Option<&Vec<u8>>) -> String {
    bytes
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default()
}

fn pretty<T: serde::Serialize>(value: &T) -> Result<String, PackError> {
    serde_json::to_string_pretty(value)
        .map(|s| s + "\n")
        .map_err(|e| PackError::Invalid(vec![Problem::new(PACK_FILE, None, e.to_string())]))
}

fn proposal_text(
    pack: &Pack,
    provider_id: &str,
    drift: &ModelDrift,
    source: &str,
    changes: &[String],
    version_to: &str,
) -> String {
    let mut out = format!(
        "# Proposed change to {} {} → {version_to}\n\n\
         Provider `{provider_id}`: its models compared with the vendor's live list ({source}).\n\
         Nothing was changed on any host. To apply: review this directory, run \
         `relay pack validate DIR`, install it (`relay pack install DIR`) and reconcile the \
         provider.\n\n## Changes\n\n",
        pack.manifest.pack_id, pack.manifest.version
    );
    if changes.is_empty() {
        out.push_str("- none: the pack matches the vendor's list\n");
    }
    for c in changes {
        out.push_str(&format!("- {c}\n"));
    }
    out.push_str("\n## Unchanged models\n\n");
    for m in &drift.unchanged {
        out.push_str(&format!("- {m}\n"));
    }
    out
}

/// A unified diff (3 lines of context) of `old` and `new`, both named `path`
/// (`a/path`, `b/path`); empty when they are equal.
pub fn unified_diff(path: &str, old: &str, new: &str) -> String {
    if old == new {
        return String::new();
    }
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    // Longest common subsequence table, from the end.
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    // The edit script: (tag, old index, new index, line).
    let mut ops: Vec<(char, usize, usize, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            ops.push((' ', i, j, a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', i, j, a[i]));
            i += 1;
        } else {
            ops.push(('+', i, j, b[j]));
            j += 1;
        }
    }
    const CONTEXT: usize = 3;
    let mut out = format!("--- a/{path}\n+++ b/{path}\n");
    let mut k = 0;
    while k < ops.len() {
        if ops[k].0 == ' ' {
            k += 1;
            continue;
        }
        let start = k.saturating_sub(CONTEXT);
        let mut end = k;
        // Extend the hunk while the next change is within 2 × CONTEXT lines.
        loop {
            while end < ops.len() && ops[end].0 != ' ' {
                end += 1;
            }
            let next_change = (end..ops.len()).find(|&x| ops[x].0 != ' ');
            match next_change {
                Some(x) if x - end <= 2 * CONTEXT => end = x,
                _ => break,
            }
        }
        let stop = (end + CONTEXT).min(ops.len());
        let hunk = &ops[start..stop];
        let old_start = hunk[0].1;
        let new_start = hunk[0].2;
        let old_len = hunk.iter().filter(|o| o.0 != '+').count();
        let new_len = hunk.iter().filter(|o| o.0 != '-').count();
        out.push_str(&format!(
            "@@ -{},{old_len} +{},{new_len} @@\n",
            old_start + usize::from(old_len > 0),
            new_start + usize::from(new_len > 0)
        ));
        for (tag, _, _, line) in hunk {
            out.push(*tag);
            out.push_str(line);
            out.push('\n');
        }
        k = stop;
    }
    out
}
