//! Batch auto-import runs (SPEC §5): a paste of `base_url key [model hint]` lines
//! becomes a run whose items are matched to providers, corrected and recorded in one
//! store transaction (keys sealed); the run worker ([`crate::run_worker`]) does the
//! rest. Listing, paging, trails, retry and cancel.

use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::packs::manifest_of;
use relay_core::SubscriberSelector;
use relay_domain::{
    parse_batch_input, AccessMode, BatchLine, Fingerprint, HostId, HostStatus, LineProblem, PackId,
    PackSourceKind, ProviderId, ProviderStatus, RetryScope, RunId, RunItemId, RunState, Secret,
    Timestamp,
};
use relay_pack::matching::{
    match_base_url, model_family, resolve_adhoc_model, resolve_model_hint, AdHocProvider,
    MatchedProvider, ModelChoice,
};
use relay_pack::{Pack, PackManifest, ProviderManifest};
use relay_store::{
    NewPack, NewProvider, NewRun, NewRunItem, PackRepository, Page, ProviderRepository,
    RetryOutcome, RunFilter, RunItemEventRecord, RunItemRecord, RunRecord, RunRepository,
};
use serde_json::json;
use std::collections::HashMap;

/// Prefix of the packs that hold one ad-hoc provider each.
pub const ADHOC_PACK_PREFIX: &str = "adhoc-";

/// A batch auto-import run as the operator asks for it. The lines hold keys.
#[derive(Debug, Clone)]
pub struct RunInput {
    /// Host id or name.
    pub host: String,
    /// The pasted lines.
    pub lines: Secret,
    /// The pack to match against (default: the only installed pack).
    pub pack_id: Option<String>,
    /// Subscription or self-service.
    pub access_mode: AccessMode,
    /// A URL no provider serves becomes an ad-hoc OpenAI-compatible provider.
    pub allow_adhoc: bool,
    /// Profile each upstream first.
    pub profile: bool,
    /// Subscribers besides the managed probe subscriber.
    pub subscribers: Vec<SubscriberSelector>,
    /// Subscription validity in days.
    pub validity_days: Option<u32>,
    /// Subscribers (each also in `subscribers`) with their own validity in days.
    pub subscriber_validity_days: Vec<(SubscriberSelector, u32)>,
}

/// Filters of the run list.
#[derive(Debug, Clone, Default)]
pub struct RunListFilter {
    /// Only runs in this state.
    pub state: Option<RunState>,
    /// Only runs on this host (id or name).
    pub host: Option<String>,
    /// Only runs with an item of this provider.
    pub provider_id: Option<String>,
    /// Run id, provider id or base URL contains this.
    pub q: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size (1..=500; 50 when 0).
    pub limit: u32,
}

/// What one line became before the run is recorded.
struct PlannedItem {
    line: usize,
    base_url: String,
    key: Secret,
    provider_id: Option<ProviderId>,
    adhoc: Option<AdHocProvider>,
    model_hint: Option<String>,
    model: Option<ModelChoice>,
    skipped: bool,
    error: Option<String>,
    warnings: Vec<String>,
}

/// The stored text of a subscriber selector (an id as digits, else the e-mail).
pub(crate) fn subscriber_text(s: &SubscriberSelector) -> String {
    match s {
        SubscriberSelector::UserId(id) => id.to_string(),
        SubscriberSelector::Email(e) => e.trim().to_lowercase(),
    }
}

/// The stored per-subscriber validity of a run read back.
pub(crate) fn subscriber_validity_of(run: &RunRecord) -> Vec<(SubscriberSelector, u32)> {
    run.subscriber_validity_days
        .iter()
        .filter_map(|(s, days)| Some((subscriber_of(s), u32::try_from(*days).ok()?)))
        .collect()
}

/// A stored subscriber text read back.
pub(crate) fn subscriber_of(text: &str) -> SubscriberSelector {
    match text.parse::<i64>() {
        Ok(id) => SubscriberSelector::UserId(id),
        Err(_) => SubscriberSelector::Email(text.to_string()),
    }
}

/// A provider manifest for an ad-hoc OpenAI-compatible upstream serving `model`.
pub(crate) fn adhoc_manifest(adhoc: &AdHocProvider, model: &str) -> AppResult<ProviderManifest> {
    serde_json::from_value(json!({
        "provider_id": adhoc.provider_id,
        "display_name": format!("Ad-hoc {}", adhoc.base_url),
        "platform": "openai",
        "account_type": "apikey",
        "base_url": adhoc.base_url,
        "default_models": [model],
        "smoke_test_model": model,
        "model_aliases": {},
        "group_template": {"rate_multiplier": 1.0},
        "channel_template": {
            "model_mapping": {model: model},
            "billing_model_source": "channel_mapped",
            "restrict_models": false
        },
        "plan_template": {"price": 10.0, "validity_days": 30, "validity_unit": "day"},
        "capabilities": {
            "chat_completions": true,
            "responses_api": false,
            "anthropic_messages": false,
            "stream": true,
            "tools": false
        },
        "force_disable_openai_responses_api": true
    }))
    .map_err(|e| AppError::Internal(format!("ad-hoc manifest of {}: {e}", adhoc.provider_id)))
}

impl App {
    /// The installed pack `pack_id` as a loaded [`Pack`] (its manifest and providers).
    fn loaded_pack(&self, pack_id: &PackId) -> AppResult<Pack> {
        let record = self.store().packs().get(pack_id)?;
        let providers = self
            .store()
            .providers()
            .list_by_pack(pack_id)?
            .iter()
            .map(manifest_of)
            .collect::<AppResult<Vec<_>>>()?;
        let manifest: PackManifest = serde_json::from_value(json!({
            "pack_id": record.pack_id.0,
            "version": record.version,
            "name": record.name,
            "description": record.description,
            "host_compat": record.host_compat,
        }))
        .map_err(|e| AppError::Internal(format!("stored pack {pack_id} is unreadable: {e}")))?;
        Ok(Pack {
            manifest,
            providers,
            files: Default::default(),
            source_digest: record.source_digest,
        })
    }

    /// The pack a run matches against: the one named, else the only installed one.
    fn run_pack(&self, pack_id: Option<&str>) -> AppResult<Pack> {
        if let Some(p) = pack_id.map(str::trim).filter(|p| !p.is_empty()) {
            return self.loaded_pack(&PackId(p.to_string()));
        }
        let packs: Vec<PackId> = self
            .store()
            .packs()
            .list()?
            .into_iter()
            .map(|p| p.pack_id)
            .filter(|p| !p.0.starts_with(ADHOC_PACK_PREFIX))
            .collect();
        match packs.as_slice() {
            [one] => self.loaded_pack(one),
            [] => Err(AppError::invalid(
                "pack_id",
                "no pack is installed: install a pack (relay pack install) before a batch import",
            )),
            many => {
                Err(AppError::invalid(
                    "pack_id",
                    format!(
                    "several packs are installed ({}): name the one to match the base URLs against",
                    many.iter().map(|p| p.0.as_str()).collect::<Vec<_>>().join(", ")
                ),
                ))
            }
        }
    }

    /// Makes sure the ad-hoc provider exists as a one-provider pack of its own
    /// (`adhoc-…`), serving `model` besides the models it served before.
    pub(crate) fn ensure_adhoc_pack(
        &self,
        adhoc: &AdHocProvider,
        model: &str,
    ) -> AppResult<ProviderManifest> {
        let pack_id = PackId(adhoc.provider_id.clone());
        let pid = ProviderId(adhoc.provider_id.clone());
        let mut manifest = adhoc_manifest(adhoc, model)?;
        if self.store().packs().find(&pack_id)?.is_some() {
            let existing = manifest_of(&self.store().providers().get(&pack_id, &pid)?)?;
            if existing.default_models.iter().any(|m| m == model) {
                return Ok(existing);
            }
            // Keep the models served before; add this one.
            manifest = existing;
            manifest.default_models.push(model.to_string());
            manifest
                .channel_template
                .model_mapping
                .insert(model.to_string(), model.to_string());
        }
        let value = serde_json::to_value(&manifest)
            .map_err(|e| AppError::Internal(format!("ad-hoc manifest: {e}")))?;
        let digest = Fingerprint::of(&value.to_string()).as_str().to_string();
        self.store().packs().install(&NewPack {
            pack_id: pack_id.clone(),
            version: "1.0.0".into(),
            name: format!("Ad-hoc provider {}", adhoc.base_url),
            description: format!(
                "An OpenAI-compatible upstream at {} allowed by a batch import run; no pack serves it.",
                adhoc.base_url
            ),
            host_compat: ">=0.1.0".into(),
            source_digest: digest,
            source_kind: PackSourceKind::Dir,
            source_path: format!("adhoc:{}", adhoc.base_url),
            overlays: json!([]),
            providers: vec![NewProvider {
                provider_id: pid,
                display_name: manifest.display_name.clone(),
                base_url: manifest.base_url.clone(),
                manifest: value,
                status: ProviderStatus::Discovered
                    .transition(relay_domain::ProviderEvent::Validate)
                    .and_then(|s| s.transition(relay_domain::ProviderEvent::Install))
                    .map_err(|e| AppError::Internal(e.to_string()))?,
            }],
        })?;
        Ok(manifest)
    }

    /// Plans one accepted line: provider, model, and the reason it cannot run.
    fn plan_line(&self, pack: &Pack, line: &BatchLine, allow_adhoc: bool) -> PlannedItem {
        let mut item = PlannedItem {
            line: line.line,
            base_url: line.base_url.to_string(),
            key: line.key.clone(),
            provider_id: None,
            adhoc: None,
            model_hint: line.model_hint.clone(),
            model: None,
            skipped: false,
            error: None,
            warnings: Vec::new(),
        };
        let matched = match match_base_url(pack, &line.base_url, allow_adhoc) {
            Ok(m) => m,
            Err(e) => {
                item.error = Some(e.to_string());
                return item;
            }
        };
        item.provider_id = Some(ProviderId(matched.provider_id().to_string()));
        let choice = match &matched.provider {
            MatchedProvider::Pack { provider_id } => match pack.provider(provider_id) {
                Some(manifest) => resolve_model_hint(pack, manifest, line.model_hint.as_deref()),
                None => {
                    item.error = Some(format!("provider {provider_id} vanished from the pack"));
                    return item;
                }
            },
            MatchedProvider::AdHoc(adhoc) => {
                // The upstream of an ad-hoc provider is the operator's word only: the
                // address rules of hosts apply (no link-local or metadata address, no
                // clear-text http beyond loopback and private networks).
                let url = &line.base_url;
                let authority = match url.port {
                    Some(p) => format!("{}:{p}", url.host),
                    None => url.host.clone(),
                };
                if let Err(e) = crate::hosts::check_host_address(&url.scheme, &authority) {
                    item.error = Some(format!("ad-hoc upstream refused: {e}"));
                    return item;
                }
                item.adhoc = Some(adhoc.clone());
                item.warnings.push(format!(
                    "ad-hoc OpenAI-compatible provider {} for {}",
                    adhoc.provider_id, adhoc.base_url
                ));
                resolve_adhoc_model(pack, adhoc, line.model_hint.as_deref())
            }
        };
        match choice {
            Ok(choice) => {
                if let Some(w) = &choice.warning {
                    item.warnings.push(w.clone());
                }
                item.model = Some(choice);
            }
            Err(e) => item.error = Some(e.to_string()),
        }
        item
    }

    /// Starts a batch auto-import run: parses and plans every line, then records the
    /// run and its items in one transaction (keys sealed). The run worker takes it
    /// from there. A line that does not parse refuses the whole request.
    pub fn create_run(&self, input: RunInput) -> AppResult<RunRecord> {
        let host = self.resolve_host(&input.host)?;
        if host.status != HostStatus::Supported {
            return Err(AppError::Conflict {
                code: "host_not_supported",
                message: format!(
                    "host {} is {}: probe it (relay host probe) and fix what it reports first",
                    host.name, host.status
                ),
            });
        }
        if let Some(days) = input.validity_days {
            if !(1..=36_500).contains(&days) {
                return Err(AppError::invalid(
                    "validity_days",
                    "must be between 1 and 36500 days",
                ));
            }
        }
        for (selector, days) in &input.subscriber_validity_days {
            if !(1..=36_500).contains(days) {
                return Err(AppError::invalid(
                    "subscribers.validity_days",
                    format!(
                        "{}: must be between 1 and 36500 days",
                        subscriber_text(selector)
                    ),
                ));
            }
        }
        let parsed = parse_batch_input(input.lines.expose());
        let refused: Vec<String> = parsed
            .errors
            .iter()
            .filter(|e| !matches!(e.problem, LineProblem::Duplicate { .. }))
            .map(|e| e.to_string())
            .collect();
        if !refused.is_empty() {
            return Err(AppError::invalid(
                "lines",
                format!("{} (nothing was recorded)", refused.join("; ")),
            ));
        }
        if parsed.lines.is_empty() {
            return Err(AppError::invalid(
                "lines",
                "no line to import: paste one `base_url key [model hint]` per line",
            ));
        }
        let pack = self.run_pack(input.pack_id.as_deref())?;
        let mut planned: Vec<PlannedItem> = parsed
            .lines
            .iter()
            .map(|l| self.plan_line(&pack, l, input.allow_adhoc))
            .collect();
        // Repeats of an earlier line: the parser's (same URL and key) and the reuse
        // policy's (same provider, key and model family).
        let by_line: HashMap<usize, &PlannedItem> = planned.iter().map(|p| (p.line, p)).collect();
        let mut repeats = Vec::new();
        for e in &parsed.errors {
            if let LineProblem::Duplicate { first_line, .. } = e.problem {
                if let Some(first) = by_line.get(&first_line) {
                    repeats.push(PlannedItem {
                        line: e.line,
                        base_url: first.base_url.clone(),
                        key: first.key.clone(),
                        provider_id: first.provider_id.clone(),
                        adhoc: None,
                        model_hint: first.model_hint.clone(),
                        model: first.model.clone(),
                        skipped: true,
                        error: None,
                        warnings: vec![format!("repeats line {first_line}")],
                    });
                }
            }
        }
        let mut seen: HashMap<(String, String, String), usize> = HashMap::new();
        for p in planned.iter_mut() {
            if let (Some(provider), Some(model)) = (&p.provider_id, &p.model) {
                let key = (
                    provider.0.clone(),
                    Fingerprint::of(p.key.expose()).as_str().to_string(),
                    model_family(&model.model),
                );
                if let Some(first) = seen.get(&key) {
                    p.skipped = true;
                    p.warnings.push(format!(
                        "repeats line {first} (same provider, key and model family)"
                    ));
                } else if p.error.is_none() {
                    seen.insert(key, p.line);
                }
            }
        }
        planned.extend(repeats);
        planned.sort_by_key(|p| p.line);
        // Ad-hoc providers exist before the run does (a pack of their own each).
        for p in &planned {
            if let (Some(adhoc), Some(model), false, None) =
                (&p.adhoc, &p.model, p.skipped, &p.error)
            {
                self.ensure_adhoc_pack(adhoc, &model.model)?;
            }
        }
        let run_id = RunId::from_random(&crate::random_bytes(8));
        let items: Vec<NewRunItem> = planned
            .into_iter()
            .map(|p| NewRunItem {
                id: RunItemId::from_random(&crate::random_bytes(8)),
                line_no: p.line as i64,
                base_url: p.base_url,
                key: p.key,
                provider_id: p.provider_id,
                adhoc: p.adhoc.is_some(),
                model_hint: p
                    .model
                    .as_ref()
                    .and_then(|m| m.hint.clone())
                    .or(p.model_hint),
                canonical_model: p.model.as_ref().map(|m| m.model.clone()),
                model_correction: p.model.as_ref().and_then(|m| m.correction.clone()),
                skipped: p.skipped,
                error: p.error,
                warnings: p.warnings,
            })
            .collect();
        for item in &items {
            self.remember_secret(&item.key);
        }
        let run = self.store().runs().create(
            &NewRun {
                id: run_id.clone(),
                host_id: host.id.clone(),
                pack_id: PackId(pack.manifest.pack_id.clone()),
                access_mode: input.access_mode,
                subscribers: input.subscribers.iter().map(subscriber_text).collect(),
                validity_days: input.validity_days.map(i64::from),
                subscriber_validity_days: input
                    .subscriber_validity_days
                    .iter()
                    .map(|(s, days)| (subscriber_text(s), i64::from(*days)))
                    .collect(),
                probe_key_ref: None,
                allow_adhoc: input.allow_adhoc,
                profile: input.profile,
            },
            &items,
        )?;
        tracing::info!(run_id = %run_id, host = %host.name, items = items.len(), "batch import run created");
        Ok(run)
    }

    /// One run.
    pub fn get_run(&self, run_id: &str) -> AppResult<RunRecord> {
        Ok(self.store().runs().get(&RunId::new(run_id))?)
    }

    /// Runs, newest first, one page.
    pub fn list_runs(&self, filter: &RunListFilter) -> AppResult<Page<RunRecord>> {
        let host_id: Option<HostId> = match filter.host.as_deref().filter(|h| !h.is_empty()) {
            Some(h) => Some(self.resolve_host(h)?.id),
            None => None,
        };
        self.store()
            .runs()
            .list(&RunFilter {
                state: filter.state,
                host_id,
                provider_id: filter
                    .provider_id
                    .clone()
                    .filter(|p| !p.is_empty())
                    .map(ProviderId),
                q: filter.q.clone(),
                cursor: filter.cursor.clone().filter(|c| !c.is_empty()),
                limit: filter.limit,
            })
            .map_err(cursor_error)
    }

    /// A run's items by line, one page.
    pub fn run_items(
        &self,
        run_id: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> AppResult<Page<RunItemRecord>> {
        let id = RunId::new(run_id);
        self.store().runs().get(&id)?;
        self.store()
            .runs()
            .items(&id, cursor.filter(|c| !c.is_empty()), limit)
            .map_err(cursor_error)
    }

    /// An item's trail, oldest first.
    pub fn item_events(&self, item_id: &str) -> AppResult<Vec<RunItemEventRecord>> {
        let id = RunItemId::new(item_id);
        self.store().runs().item(&id)?;
        Ok(self.store().runs().events(&id)?)
    }

    /// Moves a run's failed (or failed and cancelled) items back to `pending`.
    pub fn retry_run(&self, run_id: &str, scope: RetryScope) -> AppResult<RetryOutcome> {
        let id = RunId::new(run_id);
        let run = self.store().runs().get(&id)?;
        if run.state == RunState::Succeeded || run.state == RunState::Cancelling {
            return Err(AppError::Conflict {
                code: "run_state_conflict",
                message: format!("run {run_id} is {}: nothing to retry", run.state),
            });
        }
        self.store()
            .runs()
            .retry_run(&id, scope, Timestamp::now())
            .map_err(state_conflict)
    }

    /// Cancels a run: every open item cancelled, every held key erased.
    pub fn cancel_run(&self, run_id: &str) -> AppResult<RunRecord> {
        let id = RunId::new(run_id);
        let run = self.store().runs().get(&id)?;
        if run.state.is_terminal() {
            return Err(AppError::Conflict {
                code: "run_state_conflict",
                message: format!(
                    "run {run_id} already ended ({}): nothing to cancel",
                    run.state
                ),
            });
        }
        self.store().runs().cancel_run(&id).map_err(state_conflict)
    }
}

fn cursor_error(e: relay_store::StoreError) -> AppError {
    match e {
        relay_store::StoreError::InvalidCursor => AppError::invalid(
            "cursor",
            "is not a cursor this server gave: pass the next_cursor of the previous page",
        ),
        other => other.into(),
    }
}

fn state_conflict(e: relay_store::StoreError) -> AppError {
    match e {
        relay_store::StoreError::InvalidTransition(t) => AppError::Conflict {
            code: "run_state_conflict",
            message: t.to_string(),
        },
        relay_store::StoreError::InvalidState { what } => AppError::Conflict {
            code: "run_state_conflict",
            message: what,
        },
        other => other.into(),
    }
}
