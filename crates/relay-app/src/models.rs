//! Model-list drift: the vendor's live model list of a provider, compared with its
//! pack (`relay_pack::model_drift`), and the pack change that follows
//! (`relay_pack::propose`). Nothing here changes a host.
//!
//! The list comes from the host's upstream model sync, asked for one managed
//! account of the provider on the host (the host uses the account's stored key;
//! the manager never stores one). Where the host has no such route, or cannot list
//! the account's platform, the vendor's own `GET /models` is the fallback — only
//! when the request brings a key for it (opt-in, one bounded read, the key not
//! stored). Each check is stored as the provider's last one on that host.

use std::collections::BTreeMap;

use relay_domain::{HostId, ModelListSource, PackId, ProviderId, Secret, Timestamp};
use relay_pack::{model_drift, pack_models, ModelDrift};
use relay_store::{DriftCheckRecord, DriftRepository};
use relay_sub2api::HostError;
use relay_upstream::ProfileLimits;
use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::error::{AppError, AppResult};

/// Managed accounts asked at most, in turn, when the host's sync fails for one.
const ACCOUNTS_TRIED: usize = 3;

/// What to compare.
#[derive(Debug, Clone)]
pub struct ModelsDiffInput {
    /// The provider.
    pub provider_id: String,
    /// The host (id or name) whose managed account is asked.
    pub host: String,
    /// The pack, when the provider id is in several.
    pub pack_id: Option<String>,
    /// A vendor key for the direct probe, used only where the host cannot list the
    /// models (opt-in; never stored).
    pub direct_key: Option<Secret>,
}

/// One drift check: where the list came from, the lists, the drift.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelsDiffView {
    /// The host.
    pub host_id: HostId,
    /// The pack of the provider.
    pub pack_id: PackId,
    /// The provider.
    pub provider_id: ProviderId,
    /// Where the vendor's list came from.
    pub source: ModelListSource,
    /// The managed account the host listed the models for (host sync only).
    pub account_id: Option<i64>,
    /// The vendor's live model ids (sorted).
    pub upstream_models: Vec<String>,
    /// The model ids the pack names (`default_models`, then the channel mapping's
    /// upstream side).
    pub pack_models: Vec<String>,
    /// Added, retired, renamed, unchanged.
    pub drift: ModelDrift,
    /// Whether anything was added, retired or renamed.
    pub drifted: bool,
    /// When the check ran.
    pub checked_at: Timestamp,
    /// Calls to the vendor this check caused (through the host, or direct).
    pub vendor_calls: u32,
    /// What the check had to work around (a host without the sync route, an account
    /// the host could not list, …).
    pub notes: Vec<String>,
}

/// A proposed pack change (see `relay_pack::propose`).
#[derive(Debug, Clone, PartialEq)]
pub struct ProposalView {
    /// The drift check it follows from.
    pub diff: ModelsDiffView,
    /// The installed pack's version.
    pub version_from: String,
    /// The proposed version.
    pub version_to: String,
    /// What changed, one line each.
    pub changes: Vec<String>,
    /// Every file of the proposed pack (UTF-8 text), by relative path.
    pub files: BTreeMap<String, String>,
    /// A unified diff of the changed manifests.
    pub patch: String,
}

/// The host's upstream model sync with the supplied key instead of an account;
/// `None` (with a note) where the host cannot.
fn preview_through_host(
    ctx: &crate::context::ProviderContext,
    key: &Secret,
    redactor: &relay_domain::Redactor,
    notes: &mut Vec<String>,
) -> Option<Vec<String>> {
    let preview = relay_sub2api::UpstreamModelsPreview {
        platform: ctx.target.host_platform(),
        account_type: ctx.target.provider.account_type.as_str().to_string(),
        base_url: ctx.target.provider.base_url.clone(),
        api_key: key.clone(),
    };
    let redactor = redactor.clone().with(key);
    match ctx.adapter.sync_upstream_models_preview(&preview) {
        Ok(models) => {
            notes.push("listed by the host with the supplied key (not stored)".into());
            Some(models)
        }
        Err(e) => {
            notes.push(format!(
                "the host could not list the models with the supplied key: {}",
                redactor.redact(&e.to_string())
            ));
            None
        }
    }
}

impl App {
    /// Reads the vendor's live model list of a provider and compares it with the
    /// pack; stores the result as the provider's last check on the host. Changes
    /// nothing on the host.
    pub fn models_diff(&self, input: &ModelsDiffInput) -> AppResult<ModelsDiffView> {
        let ctx =
            self.provider_context(&input.provider_id, &input.host, input.pack_id.as_deref())?;
        let manifest = &ctx.target.provider;
        let mut notes = Vec::new();
        let accounts: Vec<i64> = self
            .live_accounts(&ctx)?
            .into_iter()
            .filter_map(|r| r.host_resource_id)
            .collect();
        let redactor = self.redactor();

        let mut listed: Option<(Vec<String>, i64)> = None;
        let mut last_error: Option<String> = None;
        let mut route_missing = false;
        if accounts.is_empty() {
            notes.push("the provider has no managed account on this host to ask".into());
        }
        for id in accounts.iter().take(ACCOUNTS_TRIED) {
            match ctx.adapter.sync_upstream_models(*id) {
                Ok(models) => {
                    listed = Some((models, *id));
                    break;
                }
                Err(HostError::UnsupportedRoute { .. }) => {
                    route_missing = true;
                    notes.push(format!(
                        "the host (version {}) has no upstream model sync",
                        ctx.host.version.as_deref().unwrap_or("unknown")
                    ));
                    break;
                }
                Err(HostError::Host {
                    status: 400,
                    message,
                    ..
                }) => {
                    notes.push(format!(
                        "the host cannot list this provider's models: {}",
                        redactor.redact(&message)
                    ));
                    break;
                }
                Err(e) => {
                    let text = redactor.redact(&e.to_string());
                    notes.push(format!("account {id}: {text}"));
                    last_error = Some(text);
                }
            }
        }

        // Without an account to ask, the host lists the models with the supplied key
        // where it can (it keeps nothing); else the vendor is asked directly.
        let mut previewed = match (&listed, &input.direct_key) {
            (None, Some(key)) if !route_missing => {
                preview_through_host(&ctx, key, &redactor, &mut notes)
            }
            _ => None,
        };
        let (source, account_id, upstream) = match (listed, &input.direct_key) {
            (Some((models, id)), _) => (ModelListSource::HostSync, Some(id), models),
            (None, Some(_)) if previewed.is_some() => (
                ModelListSource::HostSync,
                None,
                previewed.take().unwrap_or_default(),
            ),
            (None, Some(key)) => {
                let started = std::time::Instant::now();
                let read =
                    relay_upstream::list_models(&manifest.base_url, key, &ProfileLimits::default());
                let outcome = if read.is_ok() { "ok" } else { "vendor_error" };
                ctx.calls
                    .observe_host_call("vendor_models", outcome, started.elapsed());
                let models = read.map_err(|f| AppError::Conflict {
                    code: "vendor_model_list_failed",
                    message: format!(
                        "the vendor's model list could not be read directly: {}",
                        redactor.redact(&f.to_string())
                    ),
                })?;
                notes.push("read with the direct vendor probe (the key was not stored)".into());
                (ModelListSource::DirectProbe, None, models)
            }
            (None, None) => {
                return Err(match last_error {
                    Some(e) => AppError::HostStep {
                        step: "reading the vendor's model list through the host".into(),
                        message: e,
                    },
                    None => AppError::Conflict {
                        code: "model_list_unavailable",
                        message: format!(
                            "{}; pass a vendor key for the direct probe (opt-in) to compare anyway",
                            notes.join("; ")
                        ),
                    },
                })
            }
        };
        let drift = model_drift(manifest, &upstream);
        let view = ModelsDiffView {
            host_id: ctx.host.id.clone(),
            pack_id: ctx.provider.pack_id.clone(),
            provider_id: ctx.provider.provider_id.clone(),
            source,
            account_id,
            upstream_models: upstream,
            pack_models: pack_models(manifest),
            drifted: drift.has_drift(),
            drift,
            checked_at: Timestamp::now(),
            vendor_calls: u32::try_from(ctx.test_calls().vendor_calls).unwrap_or(u32::MAX),
            notes,
        };
        let result = serde_json::to_value(&view)
            .map_err(|e| AppError::Internal(format!("encoding a drift check: {e}")))?;
        self.store().drift_checks().put(&DriftCheckRecord {
            host_id: view.host_id.clone(),
            pack_id: view.pack_id.clone(),
            provider_id: view.provider_id.clone(),
            checked_at: view.checked_at,
            source: view.source,
            drifted: view.drifted,
            result,
        })?;
        tracing::info!(
            host_id = %view.host_id, provider_id = %view.provider_id, source = %view.source,
            added = view.drift.added.len(), retired = view.drift.retired.len(),
            renamed = view.drift.renamed.len(), "model drift checked"
        );
        Ok(view)
    }

    /// The last stored drift check of a provider on a host (`None` before the first).
    pub fn last_models_diff(
        &self,
        provider_id: &str,
        host: &str,
        pack_id: Option<&str>,
    ) -> AppResult<Option<ModelsDiffView>> {
        let host = self.resolve_host(host)?;
        let (provider, _) = self.resolve_provider(provider_id, pack_id)?;
        let Some(record) =
            self.store()
                .drift_checks()
                .get(&host.id, &provider.pack_id, &provider.provider_id)?
        else {
            return Ok(None);
        };
        serde_json::from_value(record.result)
            .map(Some)
            .map_err(|e| AppError::Internal(format!("stored drift check is unreadable: {e}")))
    }

    /// Checks the drift now and proposes the pack change: the installed pack's files
    /// with the provider's models changed, the version bumped, checksums regenerated
    /// and a `PROPOSAL.md`. Nothing is installed and nothing changes on the host.
    pub fn propose_pack(&self, input: &ModelsDiffInput) -> AppResult<ProposalView> {
        let diff = self.models_diff(input)?;
        let pack = self.load_installed_pack(&diff.pack_id)?;
        let source = match diff.source {
            ModelListSource::HostSync => format!(
                "the host's upstream model sync of account {} on host {}",
                diff.account_id.unwrap_or_default(),
                diff.host_id
            ),
            ModelListSource::DirectProbe => "the vendor's own model list (direct probe)".into(),
        };
        let proposal = relay_pack::propose(&pack, &diff.provider_id.0, &diff.drift, &source)
            .map_err(|e| AppError::Internal(format!("the proposed pack does not validate: {e}")))?;
        let files = proposal
            .files
            .into_iter()
            .map(|(path, bytes)| (path, String::from_utf8_lossy(&bytes).into_owned()))
            .collect();
        Ok(ProposalView {
            diff,
            version_from: proposal.version_from,
            version_to: proposal.version_to,
            changes: proposal.changes,
            files,
            patch: proposal.patch,
        })
    }

    /// Runs a drift check of the provider on the host when its last one is older than
    /// `interval` (never when `interval` is zero). Failures are logged, not raised:
    /// the scheduler calls it after a completed reconcile.
    pub(crate) fn check_drift_if_due(
        &self,
        host_id: &HostId,
        pack_id: &PackId,
        provider_id: &ProviderId,
        interval: std::time::Duration,
    ) {
        if interval.is_zero() {
            return;
        }
        let last = match self
            .store()
            .drift_checks()
            .get(host_id, pack_id, provider_id)
        {
            Ok(last) => last,
            Err(e) => {
                tracing::warn!(error = %e, "reading the last drift check failed");
                return;
            }
        };
        let interval_ms = i64::try_from(interval.as_millis()).unwrap_or(i64::MAX);
        if last.is_some_and(|l| Timestamp::now().0 - l.checked_at.0 < interval_ms) {
            return;
        }
        let input = ModelsDiffInput {
            provider_id: provider_id.0.clone(),
            host: host_id.to_string(),
            pack_id: Some(pack_id.0.clone()),
            direct_key: None,
        };
        if let Err(e) = self.models_diff(&input) {
            let error = self.redactor().redact(&e.to_string());
            tracing::warn!(host = %host_id, provider = %provider_id, %error, "scheduled model drift check failed");
        }
    }

    /// The Prometheus text of the drift gauges: per provider and host 1 when its last
    /// check drifted (else 0), and the count of drifted ones.
    pub(crate) fn drift_metrics_text(&self) -> AppResult<String> {
        use std::fmt::Write as _;
        let checks = self.store().drift_checks().list(None)?;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP relay_model_drift 1 when the last model-list check of a provider on a host found drift."
        );
        let _ = writeln!(out, "# TYPE relay_model_drift gauge");
        for c in &checks {
            let _ = writeln!(
                out,
                "relay_model_drift{{host_id=\"{}\",pack_id=\"{}\",provider_id=\"{}\"}} {}",
                c.host_id,
                c.pack_id,
                c.provider_id,
                u8::from(c.drifted)
            );
        }
        let _ = writeln!(
            out,
            "# HELP relay_model_drift_providers Providers whose last model-list check found drift."
        );
        let _ = writeln!(out, "# TYPE relay_model_drift_providers gauge");
        let _ = writeln!(
            out,
            "relay_model_drift_providers {}",
            checks.iter().filter(|c| c.drifted).count()
        );
        Ok(out)
    }
}
