//! The completion-gated gateway probe and the unauthenticated reachability check.
//! The capability repair of SPEC §7.3 it triggers lives in [`crate::repair`].
//!
//! A mode is ready only when `GET /v1/models` lists the smoke model **and** a
//! minimal `POST /v1/chat/completions` with it succeeds. Transient answers (503
//! "Service temporarily unavailable" during warm-up, 429, 502, 504, transport
//! errors) are retried with backoff inside a bounded warm-up window; `404
//! model_not_found` and the other refusals are final.
//!
//! An upstream failure (`502 upstream_error`, or an upstream error passed through)
//! does not say why: the probe reads the group's managed accounts through the admin
//! API. Accounts the host routes over the Responses API get the capability repair
//! (once per [`RepairScope`]); accounts the host put into `error` for a payment or
//! authentication failure, and accounts of a native CN platform it benched for a low
//! vendor balance (which it schedules again by itself), are reported as such
//! ([`AccountOutOfService`]) and left alone — no repair fixes an empty balance or a
//! bad key.
//!
//! The host caches `/v1/models` per group for 15 s: a list without the smoke model
//! while the completion with it succeeds is not final until that cache has expired.
//!
//! Every wait (warm-up backoff, the models-cache poll) goes through the ports'
//! [`crate::Clock`].

use std::time::{Duration, Instant};

use relay_domain::{
    mask, AccessMode, Fingerprint, ModeProof, Redactor, ResourceType, Secret, Verdict,
};
use relay_sub2api::{
    AccountErrorKind, ChatProbeRequest, CompletionProbe, GatewayFailure, HostAdapter, HostError,
    ModelsProbe, ObjectId, TempUnschedulableCause,
};
use serde::Serialize;
use serde_json::json;

use crate::clock::millis as ms;
use crate::error::AccessError;
use crate::observer::{Observer, ProbeKind, ProbeRecord, RedactingObserver};
use crate::ports::Ports;
use crate::repair::{repair_accounts, CapabilityRepair, RepairScope};
pub use relay_domain::{CompletionFailure, OutOfServiceReason, ProbeKeySource};

/// The typed meaning of the host's gateway failure.
fn completion_failure(f: GatewayFailure) -> CompletionFailure {
    match f {
        GatewayFailure::KeyRefused => CompletionFailure::KeyRefused,
        GatewayFailure::SubscriptionMissing => CompletionFailure::SubscriptionMissing,
        GatewayFailure::NoAvailableAccount => CompletionFailure::NoAvailableAccount,
        GatewayFailure::ModelNotSupported => CompletionFailure::ModelNotSupported,
        GatewayFailure::RateLimited => CompletionFailure::RateLimited,
        GatewayFailure::UpstreamFailed => CompletionFailure::UpstreamFailed,
        GatewayFailure::UpstreamRejected => CompletionFailure::UpstreamRejected,
        GatewayFailure::Other => CompletionFailure::Other,
    }
}

/// Why the host's account error takes the account out of service.
fn out_of_service_reason(kind: AccountErrorKind) -> OutOfServiceReason {
    match kind {
        AccountErrorKind::QuotaExhausted => OutOfServiceReason::QuotaExhausted,
        AccountErrorKind::KeyInvalid => OutOfServiceReason::KeyInvalid,
        AccountErrorKind::Other => OutOfServiceReason::Other,
    }
}

/// Default warm-up window of the gateway probe.
pub const DEFAULT_WARMUP_WINDOW: Duration = Duration::from_secs(30);
/// Default first backoff between probe attempts (doubles up to [`DEFAULT_MAX_BACKOFF`]).
pub const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_millis(500);
/// Default longest backoff between probe attempts.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(4);
/// The host's default lifetime of a cached `/v1/models` list
/// (`gateway.models_list_cache_ttl_seconds`, 15 s; hosts may set 10–30 s).
pub const DEFAULT_MODELS_CACHE_TTL: Duration = Duration::from_secs(15);
/// Slack added to the models-cache lifetime before a stale-looking list is final.
const MODELS_CACHE_SLACK: Duration = Duration::from_secs(1);

/// The most `max_tokens` a gateway chat probe asks for, whatever the settings say:
/// every test call the manager makes stays tiny.
pub const MAX_PROBE_TOKENS: u32 = 16;

/// How to probe the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeSettings {
    /// The model that must be listed and must complete.
    pub smoke_model: String,
    /// `max_tokens` of the chat probe (tiny: capped at [`MAX_PROBE_TOKENS`]).
    pub max_tokens: u32,
    /// Probe with `stream: true`.
    pub stream: bool,
    /// How long transient answers are retried.
    pub warmup_window: Duration,
    /// First backoff between attempts.
    pub initial_backoff: Duration,
    /// Longest backoff between attempts.
    pub max_backoff: Duration,
    /// Apply the capability repair when an upstream failure comes from accounts on
    /// the Responses path.
    pub repair: bool,
    /// How long the host may serve a stale `/v1/models` list after a change: a list
    /// without the smoke model while its completion succeeds is polled until this
    /// much (plus a second) has passed since it was first seen, even beyond the
    /// warm-up window.
    pub models_cache_ttl: Duration,
}

impl ProbeSettings {
    /// Defaults: 8 tokens, no streaming, 30 s window, 0.5 s → 4 s backoff, repair on,
    /// the host's 15 s models cache.
    pub fn new(smoke_model: impl Into<String>) -> Self {
        ProbeSettings {
            smoke_model: smoke_model.into(),
            max_tokens: 8,
            stream: false,
            warmup_window: DEFAULT_WARMUP_WINDOW,
            initial_backoff: DEFAULT_INITIAL_BACKOFF,
            max_backoff: DEFAULT_MAX_BACKOFF,
            repair: true,
            models_cache_ttl: DEFAULT_MODELS_CACHE_TTL,
        }
    }
}

impl Default for ProbeSettings {
    /// The defaults of [`ProbeSettings::new`] without a smoke model: what a flow's
    /// request carries, the flow filling in the manifest's smoke model
    /// ([`ProbeSettings::for_model`]).
    fn default() -> Self {
        ProbeSettings::new("")
    }
}

impl ProbeSettings {
    /// These settings for `smoke_model` (a flow's request carries the timing; the
    /// smoke model always comes from the provider's manifest).
    pub fn for_model(&self, smoke_model: &str) -> ProbeSettings {
        ProbeSettings {
            smoke_model: smoke_model.to_string(),
            ..self.clone()
        }
    }
}

/// A managed account the host put into `error` after an upstream failure that is
/// not a capability problem. Carries no host message (it can quote the vendor).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountOutOfService {
    /// Host account id.
    pub account_id: ObjectId,
    /// Account name.
    pub account_name: String,
    /// Why the account cannot serve (a payment problem, an invalid key, a low balance, …).
    pub reason: OutOfServiceReason,
    /// Until when the host benches the account (`balance_low`), as it reports it.
    pub until: Option<String>,
    /// The operator's next step for this reason, as one sentence.
    pub fix: String,
}

impl AccountOutOfService {
    /// The entry for `account` when the host has it in `error`, or benched for a low
    /// vendor balance ([`TempUnschedulableCause::VendorBalanceLow`]).
    pub fn of(account: &relay_sub2api::Account) -> Option<Self> {
        let (reason, until) = match account.error_kind() {
            Some(kind) => (out_of_service_reason(kind), None),
            None if account.temp_unschedulable_cause()
                == Some(TempUnschedulableCause::VendorBalanceLow) =>
            {
                (
                    OutOfServiceReason::BalanceLow,
                    account
                        .temp_unschedulable_until
                        .as_deref()
                        .map(str::to_string),
                )
            }
            None => return None,
        };
        Some(AccountOutOfService {
            account_id: account.id,
            account_name: account.name.clone(),
            reason,
            until,
            fix: reason.fix().to_string(),
        })
    }

    /// The host schedules the account again by itself (a low-balance bench).
    pub fn recovers_by_itself(&self) -> bool {
        self.reason == OutOfServiceReason::BalanceLow
    }
}

/// The proof record of one access mode (no secret: the key appears as
/// fingerprint and mask only).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccessProof {
    /// The access mode this proof is for (subscription or self-service).
    pub mode: AccessMode,
    /// Where the probe key came from (the managed subscriber's key, or the operator's).
    pub key_source: ProbeKeySource,
    /// Fingerprint of the probe key.
    pub key_fingerprint: Fingerprint,
    /// Mask of the probe key.
    pub key_mask: String,
    /// The model the probe asked for: the provider manifest's smoke-test model.
    pub smoke_model: String,
    /// HTTP status of the last `GET /v1/models`.
    pub models_status: Option<u16>,
    /// The last model list named the smoke model.
    pub smoke_model_seen: bool,
    /// Number of models listed by the last `GET /v1/models`.
    pub models_listed: usize,
    /// HTTP status of the last chat completion.
    pub completion_status: Option<u16>,
    /// The last chat completion succeeded.
    pub completion_ok: bool,
    /// What the last failed completion meant (`None` on success).
    pub completion_failure: Option<CompletionFailure>,
    /// `chat.completion` (or `chat.completion.chunk`) on success, else the host's
    /// error type or code.
    pub completion_type: Option<String>,
    /// First characters of the completion text.
    pub completion_preview: Option<String>,
    /// Model echoed by the host.
    pub completion_model: Option<String>,
    /// The host's last error message, verbatim.
    pub message: Option<String>,
    /// Attempts made (model list + completion each).
    pub attempts: u32,
    /// Wall time of the whole probe.
    pub elapsed_ms: u64,
    /// Wall time of the last `GET /v1/models`.
    pub models_ms: Option<u64>,
    /// Wall time of the last completion.
    pub completion_ms: Option<u64>,
    /// Capability repairs applied during this probe.
    pub repairs: Vec<CapabilityRepair>,
    /// Managed accounts of the group the host put into `error` after an upstream
    /// failure (payment, key), as last read; not repaired.
    pub accounts_out_of_service: Vec<AccountOutOfService>,
    /// The mode's verdict: `ready` only when the model list named the smoke model and a
    /// completion succeeded.
    pub proof: ModeProof,
    /// The last completion answer's `Retry-After`, for a caller that retries later
    /// (not part of the stored proof).
    #[serde(skip)]
    pub retry_after: Option<Duration>,
}

impl AccessProof {
    /// True when the mode is proven.
    pub fn is_ready(&self) -> bool {
        self.proof == ModeProof::Ready
    }
}

/// What a gateway refusal `429 INVALID_AUTH_RATE_LIMITED` means and what to do.
pub const INVALID_AUTH_BLOCK_MESSAGE: &str = "the gateway refuses every call from this manager's address for now (429 INVALID_AUTH_RATE_LIMITED): sub2api blocks a client IP for 60 s after 120 failed key checks within 60 s (calls without a key or with an unknown key count); something sharing this address sends such calls, so find it, then probe again after the block";

fn transient_status(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

fn models_verdict(m: &ModelsProbe, smoke: &str) -> Verdict {
    if m.lists(smoke) {
        Verdict::Passed
    } else if transient_status(m.http_status) {
        Verdict::Warning
    } else {
        Verdict::Failed
    }
}

fn chat_verdict(c: &CompletionProbe) -> Verdict {
    if c.ok {
        Verdict::Passed
    } else if transient_status(c.http_status) {
        Verdict::Warning
    } else {
        Verdict::Failed
    }
}

/// The failure came from the upstream (through the accounts), so the accounts'
/// state says why: a capability mismatch or a payment/key failure.
fn is_upstream_failure(c: &CompletionProbe) -> bool {
    matches!(
        c.failure(),
        Some(GatewayFailure::UpstreamFailed | GatewayFailure::UpstreamRejected)
    )
}

/// The managed accounts bound to the scope's group, as the host has them now.
struct Review {
    accounts: Vec<(crate::journal::JournalEntry, relay_sub2api::Account)>,
}

impl Review {
    fn read(adapter: &dyn HostAdapter, scope: &RepairScope<'_>) -> Result<Review, AccessError> {
        let mut accounts = Vec::new();
        for entry in scope
            .journal
            .list_provider()?
            .into_iter()
            .filter(|e| e.resource_type == ResourceType::Account && e.is_owned_live())
        {
            let Some(id) = entry.host_resource_id else {
                continue;
            };
            // A read failure leaves the account out of the review (the repair reads
            // it again and reports its own failures).
            if let Ok(account) = adapter.get_account(id) {
                if account.group_ids.contains(&scope.group_id) {
                    accounts.push((entry, account));
                }
            }
        }
        Ok(Review { accounts })
    }

    /// OpenAI accounts the host routes over the Responses API.
    fn on_responses_path(&self) -> bool {
        self.accounts
            .iter()
            .any(|(_, a)| a.is_openai_on_responses_path())
    }

    fn out_of_service(&self) -> Vec<AccountOutOfService> {
        self.accounts
            .iter()
            .filter_map(|(_, a)| AccountOutOfService::of(a))
            .collect()
    }

    /// Every managed account of the group is in `error`, or benched for a low vendor
    /// balance: nothing can serve until the operator acts (or tops up the vendor).
    fn all_out_of_service(&self) -> bool {
        !self.accounts.is_empty()
            && self
                .accounts
                .iter()
                .all(|(_, a)| AccountOutOfService::of(a).is_some())
    }
}

/// Probes the gateway with `key`: the model list and a minimal completion,
/// retried through the warm-up window (and past it while the host's models cache
/// may be stale). With a `repair` scope, an upstream failure makes the probe read
/// the group's managed accounts: the capability repair runs once (when
/// `settings.repair` is on) if some are on the Responses path; accounts in `error`
/// for a payment or key failure, or benched for a low vendor balance, are reported
/// in `accounts_out_of_service`, and when all of them are, the probe stops.
///
/// Fails only when the journal cannot record a repair; every host answer,
/// including transport errors, is part of the proof. Every text of the proof and
/// of the probe records passes the redaction step with `key`.
pub fn probe_gateway(
    ports: &Ports<'_>,
    key: &Secret,
    mode: AccessMode,
    source: ProbeKeySource,
    settings: &ProbeSettings,
    repair: Option<&RepairScope<'_>>,
) -> Result<AccessProof, AccessError> {
    let redactor = Redactor::new().with(key);
    let observer = RedactingObserver {
        inner: ports.observer,
        redactor: &redactor,
    };
    let mut proof = probe_gateway_unredacted(
        &ports.with_observer(&observer),
        key,
        mode,
        source,
        settings,
        repair,
    )?;
    proof.redact(&redactor);
    Ok(proof)
}

fn probe_gateway_unredacted(
    ports: &Ports<'_>,
    key: &Secret,
    mode: AccessMode,
    source: ProbeKeySource,
    settings: &ProbeSettings,
    repair: Option<&RepairScope<'_>>,
) -> Result<AccessProof, AccessError> {
    let adapter = ports.adapter;
    let observer = ports.observer;
    let clock = ports.clock;
    let started = clock.now();
    let key_mask = mask(key.expose());
    let subject = format!("key:{key_mask}");
    let request = ChatProbeRequest {
        model: settings.smoke_model.clone(),
        max_tokens: settings.max_tokens.clamp(1, MAX_PROBE_TOKENS),
        stream: settings.stream,
    };
    let mut proof = AccessProof {
        mode,
        key_source: source,
        key_fingerprint: Fingerprint::of(key.expose()),
        key_mask,
        smoke_model: settings.smoke_model.clone(),
        models_status: None,
        smoke_model_seen: false,
        models_listed: 0,
        completion_status: None,
        completion_ok: false,
        completion_failure: None,
        completion_type: None,
        completion_preview: None,
        completion_model: None,
        message: None,
        attempts: 0,
        elapsed_ms: 0,
        models_ms: None,
        completion_ms: None,
        repairs: Vec::new(),
        accounts_out_of_service: Vec::new(),
        proof: ModeProof::Broken,
        retry_after: None,
    };
    let mut backoff = settings.initial_backoff;
    let mut stale_since: Option<Instant> = None;
    let mut reviewed_idle_pool = false;
    loop {
        proof.attempts += 1;
        let attempt = proof.attempts;
        let mut transient = false;
        let mut message = None;
        let mut models_ok = false;
        // This client IP is blocked for failed key checks: retrying inside the
        // warm-up window cannot help (the block lasts longer) and proves nothing.
        let mut ip_blocked = false;

        match adapter.gateway_models(key) {
            Ok(m) => {
                proof.models_status = Some(m.http_status);
                proof.smoke_model_seen = m.lists(&settings.smoke_model);
                proof.models_listed = m.models.len();
                proof.models_ms = Some(ms(m.duration));
                models_ok = m.error.is_none() && (200..300).contains(&m.http_status);
                transient |= transient_status(m.http_status);
                if let Some(e) = &m.error {
                    message = Some(e.message.clone());
                    ip_blocked |= e.is_invalid_auth_limited();
                }
                observer.probe(ProbeRecord {
                    kind: ProbeKind::GatewayModels,
                    subject: subject.clone(),
                    verdict: models_verdict(&m, &settings.smoke_model),
                    http_status: Some(m.http_status),
                    message: m.error.as_ref().map(|e| e.message.clone()),
                    duration_ms: Some(ms(m.duration)),
                    details: json!({
                        "attempt": attempt,
                        "mode": mode,
                        "smoke_model": settings.smoke_model,
                        "smoke_model_seen": proof.smoke_model_seen,
                        "models_listed": m.models.len(),
                        "code": m.error.as_ref().and_then(|e| e.code.clone()),
                    }),
                });
            }
            Err(e) => {
                transient |= host_error_is_retryable(&e);
                proof.models_status = e.status();
                proof.smoke_model_seen = false;
                message = Some(e.to_string());
                observer.probe(ProbeRecord {
                    kind: ProbeKind::GatewayModels,
                    subject: subject.clone(),
                    verdict: Verdict::Failed,
                    http_status: e.status(),
                    message: Some(e.to_string()),
                    duration_ms: None,
                    details: json!({"attempt": attempt, "mode": mode}),
                });
            }
        }

        let mut upstream_failure = false;
        let mut idle_pool = false;
        match adapter.gateway_chat(key, &request) {
            Ok(c) => {
                proof.completion_status = Some(c.http_status);
                proof.completion_ok = c.ok;
                proof.retry_after = c.retry_after;
                proof.completion_ms = Some(ms(c.duration));
                proof.completion_model = c.model.clone();
                proof.completion_preview = (!c.preview.is_empty()).then(|| c.preview.clone());
                proof.completion_type = if c.ok {
                    Some(if settings.stream {
                        "chat.completion.chunk".to_string()
                    } else {
                        "chat.completion".to_string()
                    })
                } else {
                    c.error
                        .as_ref()
                        .and_then(|e| e.error_type.clone().or_else(|| e.code.clone()))
                };
                transient |= !c.ok && transient_status(c.http_status);
                upstream_failure = is_upstream_failure(&c);
                proof.completion_failure = c.failure().map(completion_failure);
                idle_pool = c.failure() == Some(GatewayFailure::NoAvailableAccount);
                if let Some(e) = &c.error {
                    message = Some(e.message.clone());
                    ip_blocked |= e.is_invalid_auth_limited();
                }
                observer.probe(ProbeRecord {
                    kind: ProbeKind::GatewayChat,
                    subject: subject.clone(),
                    verdict: chat_verdict(&c),
                    http_status: Some(c.http_status),
                    message: c.error.as_ref().map(|e| e.message.clone()),
                    duration_ms: Some(ms(c.duration)),
                    details: json!({
                        "attempt": attempt,
                        "mode": mode,
                        "model": settings.smoke_model,
                        "error_type": c.error.as_ref().and_then(|e| e.error_type.clone()),
                        "code": c.error.as_ref().and_then(|e| e.code.clone().or_else(|| e.error_code.clone())),
                        "preview": c.preview,
                    }),
                });
            }
            Err(e) => {
                transient |= host_error_is_retryable(&e);
                proof.completion_status = e.status();
                proof.completion_ok = false;
                proof.completion_failure = Some(CompletionFailure::Other);
                proof.completion_type = None;
                proof.completion_preview = None;
                message = Some(e.to_string());
                observer.probe(ProbeRecord {
                    kind: ProbeKind::GatewayChat,
                    subject: subject.clone(),
                    verdict: Verdict::Failed,
                    http_status: e.status(),
                    message: Some(e.to_string()),
                    duration_ms: None,
                    details: json!({"attempt": attempt, "mode": mode}),
                });
            }
        }

        proof.message = message;
        if ModeProof::from_probe(proof.smoke_model_seen, proof.completion_ok) == ModeProof::Ready {
            proof.proof = ModeProof::Ready;
            proof.message = None;
            break;
        }
        if ip_blocked {
            proof.message = Some(INVALID_AUTH_BLOCK_MESSAGE.to_string());
            break;
        }
        // Why did the upstream fail (or why is nothing schedulable)? The accounts say.
        let review_now = upstream_failure || (idle_pool && !reviewed_idle_pool);
        if let (true, Some(scope)) = (review_now, repair) {
            reviewed_idle_pool |= idle_pool;
            let review = Review::read(adapter, scope)?;
            if upstream_failure && settings.repair && review.on_responses_path() && scope.claim() {
                let repaired = repair_accounts(adapter, scope)?;
                let any = !repaired.is_empty();
                proof.repairs.extend(repaired);
                if any {
                    continue;
                }
            }
            proof.accounts_out_of_service = review.out_of_service();
            if review.all_out_of_service() {
                // Retrying cannot help: the host will not schedule them again.
                proof.message = Some(out_of_service_message(&proof.accounts_out_of_service));
                break;
            }
        }
        // A list without the smoke model while the completion with it works: the
        // host's models cache may still be stale after a change.
        let stale_list = models_ok && !proof.smoke_model_seen && proof.completion_ok;
        let stale_left = if stale_list {
            let since = *stale_since.get_or_insert_with(|| clock.now());
            (settings.models_cache_ttl + MODELS_CACHE_SLACK).saturating_sub(clock.elapsed(since))
        } else {
            stale_since = None;
            Duration::ZERO
        };
        if stale_list && proof.message.is_none() {
            proof.message = Some(format!(
                "GET /v1/models does not list {} although the completion with it succeeded (the host caches the list for up to {} s after a change)",
                settings.smoke_model,
                settings.models_cache_ttl.as_secs()
            ));
        }
        if !transient && stale_left.is_zero() {
            break;
        }
        let sleep = if transient && clock.elapsed(started) + backoff <= settings.warmup_window {
            backoff
        } else if !stale_left.is_zero() {
            // Poll once more right after the cache must have expired.
            backoff.min(stale_left)
        } else {
            break;
        };
        clock.sleep(sleep);
        backoff = (backoff * 2).min(settings.max_backoff);
    }
    proof.elapsed_ms = ms(clock.elapsed(started));
    Ok(proof)
}

fn host_error_is_retryable(e: &HostError) -> bool {
    e.is_transient()
}

fn out_of_service_message(accounts: &[AccountOutOfService]) -> String {
    let parts: Vec<String> = accounts
        .iter()
        .map(|a| {
            let why = match a.reason {
                OutOfServiceReason::QuotaExhausted => {
                    "vendor quota or balance exhausted (402)".to_string()
                }
                OutOfServiceReason::KeyInvalid => "vendor rejected the key (401)".to_string(),
                OutOfServiceReason::BalanceLow => format!(
                    "vendor balance low, benched by the host{} and scheduled again by itself once the vendor account is topped up",
                    a.until
                        .as_deref()
                        .map(|u| format!(" until {u}"))
                        .unwrap_or_default()
                ),
                OutOfServiceReason::Other => "in error".to_string(),
            };
            format!("account {} ({}): {why}", a.account_id, a.account_name)
        })
        .collect();
    format!(
        "every account of the group is out of service on the host: {}",
        parts.join("; ")
    )
}

/// Result of the unauthenticated reachability check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reachability {
    /// The gateway answered `401 API_KEY_REQUIRED` to `GET /v1/models` without a key.
    pub reachable: bool,
    /// HTTP status of that answer (none on a transport error).
    pub models_status: Option<u16>,
    /// Machine code of that answer.
    pub code: Option<String>,
    /// `POST /v1/chat/completions` exists on this build.
    pub chat_completions: bool,
    /// What went wrong, when not reachable.
    pub message: Option<String>,
}

/// Checks that the gateway is up and sane without any key (doctor): `GET /v1/models`
/// must answer `401 API_KEY_REQUIRED`.
pub fn check_reachability(adapter: &dyn HostAdapter, observer: &dyn Observer) -> Reachability {
    let started = Instant::now();
    let result = match adapter.gateway_reachability() {
        Ok(r) => Reachability {
            reachable: r.api_key_required,
            models_status: Some(r.models_status),
            code: r.models_code.clone(),
            chat_completions: r.chat_completions,
            message: if r.invalid_auth_limited {
                Some(match r.retry_after {
                    Some(d) => format!(
                        "{INVALID_AUTH_BLOCK_MESSAGE} (retry after {} s)",
                        d.as_secs()
                    ),
                    None => INVALID_AUTH_BLOCK_MESSAGE.to_string(),
                })
            } else {
                (!r.api_key_required).then(|| {
                    format!(
                        "GET /v1/models without a key answered HTTP {} {}; expected 401 API_KEY_REQUIRED",
                        r.models_status,
                        r.models_code.as_deref().unwrap_or("-")
                    )
                })
            },
        },
        Err(e) => Reachability {
            reachable: false,
            models_status: e.status(),
            code: e.code(),
            chat_completions: false,
            message: Some(e.to_string()),
        },
    };
    observer.probe(ProbeRecord {
        kind: ProbeKind::Reachability,
        subject: "host".to_string(),
        verdict: if result.reachable {
            Verdict::Passed
        } else {
            Verdict::Failed
        },
        http_status: result.models_status,
        message: result.message.clone(),
        duration_ms: Some(ms(started.elapsed())),
        details: json!({"code": result.code, "chat_completions": result.chat_completions}),
    });
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use relay_sub2api::GatewayError;

    fn chat(status: u16, kind: Option<&str>) -> CompletionProbe {
        CompletionProbe {
            http_status: status,
            ok: false,
            model: None,
            preview: String::new(),
            error: Some(GatewayError {
                error_type: kind.map(str::to_string),
                ..GatewayError::default()
            }),
            duration: Duration::ZERO,
            retry_after: None,
        }
    }

    #[test]
    fn upstream_failure_detection() {
        assert!(is_upstream_failure(&chat(502, Some("upstream_error"))));
        assert!(is_upstream_failure(&chat(502, None)));
        assert!(is_upstream_failure(&chat(502, Some("api_error"))));
        // The vendor's own 404 passed through (Responses path without `/responses`).
        assert!(is_upstream_failure(&chat(404, Some("not_found_error"))));
        assert!(!is_upstream_failure(&chat(503, Some("api_error"))));
        assert!(!is_upstream_failure(&chat(404, Some("model_not_found"))));
        assert!(!is_upstream_failure(&chat(429, Some("rate_limit_error"))));
    }

    #[test]
    fn transient_statuses() {
        for s in [429, 502, 503, 504] {
            assert!(transient_status(s));
            assert_eq!(chat_verdict(&chat(s, None)), Verdict::Warning);
        }
        for s in [400, 401, 402, 403, 404, 500] {
            assert!(!transient_status(s));
            assert_eq!(chat_verdict(&chat(s, None)), Verdict::Failed);
        }
    }

    #[test]
    fn defaults() {
        let s = ProbeSettings::new("m");
        assert_eq!(s.warmup_window, Duration::from_secs(30));
        assert!(s.repair && !s.stream);
        assert_eq!(ProbeKeySource::SuppliedKey.as_str(), "supplied_key");
    }
}
