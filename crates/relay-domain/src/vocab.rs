//! The vocabularies of our records and reports that are not state machines: how a
//! host is authenticated, what a pack came from, how a reconcile run started and
//! ended, why an account test got its verdict, what a run did to a host resource,
//! what the doctor checked and found, what a gateway completion failure meant.
//!
//! Each is declared once here, with the stable snake_case string it is stored and
//! sent as; the crates that produce them (the store, the kernel, the flows) and the
//! HTTP contract all use these types.

use crate::string_enum;

string_enum!(
    /// How the manager authenticates to a host's admin API.
    HostAuthKind, "host auth kind" {
        /// An admin API key sent with every call (`x-api-key`).
        ApiKey => "api_key",
        /// E-mail and password exchanged for a bearer token.
        Login => "login",
    }
);

string_enum!(
    /// Where a pack was installed from.
    PackSourceKind, "pack source kind" {
        /// A directory.
        Dir => "dir",
        /// A `.zip` archive (uploaded or in the packs directory).
        Zip => "zip",
    }
);

string_enum!(
    /// What started a reconcile run.
    ReconcileTrigger, "reconcile trigger" {
        /// An operator request (`POST /api/providers/{provider}/reconcile`).
        Manual => "manual",
        /// The background scheduler (`RELAY_RECONCILE_INTERVAL`).
        Scheduled => "scheduled",
    }
);

string_enum!(
    /// Life of a reconcile run record.
    ReconcileStatus, "reconcile status" {
        /// In progress.
        Running => "running",
        /// Finished with a verdict.
        Completed => "completed",
        /// Could not finish (host unreachable, internal error).
        Failed => "failed",
        /// Found running at start-up after a crash.
        Interrupted => "interrupted",
    }
);

string_enum!(
    /// Why an account test got its verdict.
    TestReason, "test reason" {
        /// The test completed successfully.
        Passed => "passed",
        /// An upstream 403 right after creation while the account's models include the
        /// smoke model: the host's asynchronous capability probe had not finished (§7.1).
        FirstTestForbiddenRace => "first_test_forbidden_race",
        /// An upstream 404 from the test; advisory only if the gateway probe passes (§7.1).
        NotFoundPendingGateway => "not_found_pending_gateway",
        /// An older host's test endpoint said it only supports the Responses API and
        /// the account itself works; advisory only if the gateway probe passes (§7.1).
        ResponsesOnlyPendingGateway => "responses_only_pending_gateway",
        /// 429/502/503/504, a timeout, a rate limit or a temporary failure (§7.2).
        Transient => "transient",
        /// The upstream rejected the key (401, invalid key).
        UpstreamKeyInvalid => "upstream_key_invalid",
        /// The upstream account has no balance or quota left.
        UpstreamQuotaExhausted => "upstream_quota_exhausted",
        /// A 403 while the account's models lack the smoke model.
        Forbidden => "forbidden",
        /// Any other failure.
        Other => "other",
    }
);

string_enum!(
    /// What happened to a host resource in an import or rollback run.
    ResourceChange, "resource change" {
        /// Created by this batch.
        Created => "created",
        /// Found on the host while recovering an intent, and adopted.
        Adopted => "adopted",
        /// An existing object used as is (rollback leaves objects the manager did not
        /// create).
        Reused => "reused",
        /// An existing object changed to match the pack.
        Updated => "updated",
    }
);

string_enum!(
    /// Why a stale account was retired.
    RetireReason, "retire reason" {
        /// Another live managed account has the same key.
        Duplicate => "duplicate",
        /// `replace_existing`: its key is not part of this import.
        Replaced => "replaced",
    }
);

string_enum!(
    /// What an access closure would do with a subscriber given by e-mail (preview).
    SubscriberAction, "subscriber action" {
        /// No such user on the host: it will be created.
        Create => "create",
        /// The managed user exists: it is reused.
        Reuse => "reuse",
        /// The user exists on the host but its password is not managed here: it gets a
        /// subscription but no probe key.
        Conflict => "conflict",
    }
);

string_enum!(
    /// The outcome of one recorded account in a reconcile run.
    AccountOutcome, "account outcome" {
        /// The account test passed.
        Passed => "passed",
        /// The test failed for an advisory or transient reason (SPEC §7.1–§7.2).
        Warning => "warning",
        /// Blocking failure (also: the account is in `error` on the host).
        Failed => "failed",
        /// Not tested: gone from the host, or disabled there.
        NotTested => "not_tested",
    }
);

impl AccountOutcome {
    /// True for passed and warning: the account can serve.
    pub fn is_good(self) -> bool {
        matches!(self, AccountOutcome::Passed | AccountOutcome::Warning)
    }
}

string_enum!(
    /// How the host differs from the record.
    DifferenceKind, "difference kind" {
        /// A recorded object is gone from the host (deleted by hand).
        Missing => "missing",
        /// A recorded object exists but a field was changed by hand.
        Changed => "changed",
        /// A host object the record does not own sits where only managed objects
        /// should be: an account bound to a managed group that the journal does not
        /// know, a second account with a managed account's deterministic name (same key
        /// fingerprint), or an object the journal believes retired or deleted.
        UnmanagedDuplicate => "unmanaged_duplicate",
    }
);

string_enum!(
    /// What a repair did.
    RepairKind, "repair kind" {
        /// SPEC §7.3: the account was forced back to Chat Completions and its
        /// error/temporary-unschedulable state cleared.
        CapabilityRepair => "capability_repair",
        /// A managed account was bound to its group again.
        AccountRebound => "account_rebound",
        /// The channel's group binding, model mapping, pricing, model restriction and
        /// billing source were restored to the template.
        ChannelRestored => "channel_restored",
        /// The channel was bound to the group again.
        ChannelRebound => "channel_rebound",
        /// The probe subscriber's subscription was assigned again.
        SubscriptionReassigned => "subscription_reassigned",
        /// A managed account's error state was cleared.
        AccountErrorCleared => "account_error_cleared",
        /// A managed account's temporary-unschedulable state was cleared.
        TempUnschedulableCleared => "temp_unschedulable_cleared",
        /// The managed probe key, moved to another group by hand, was bound to its
        /// group again (same key value).
        ProbeKeyRebound => "probe_key_rebound",
    }
);

string_enum!(
    /// The binding checks of SPEC §6.1 (`doctor`).
    CheckName, "check name" {
        /// (a) The group has at least one schedulable account (active, schedulable,
        /// bound, not temporarily unschedulable).
        SchedulableAccount => "schedulable_account",
        /// (b) The channel is bound to the group.
        ChannelBound => "channel_bound",
        /// (c) The probe key is bound to the group (compared by fingerprint).
        ProbeKeyBound => "probe_key_bound",
        /// (d) The probe key owner's subscription to the group is active and not expired.
        SubscriptionActive => "subscription_active",
        /// (e) Unauthenticated `GET /v1/models` answers `401 API_KEY_REQUIRED`.
        GatewayReachable => "gateway_reachable",
        /// (f) A completion works through the gateway with the probe key
        /// (completion-gated: the model is listed and the chat succeeds).
        CompletionWorks => "completion_works",
    }
);

string_enum!(
    /// Result of one doctor check.
    CheckStatus, "check status" {
        /// The binding holds.
        Ok => "ok",
        /// The binding is broken; see the fix.
        Fail => "fail",
        /// The check could not run (an earlier check failed, or it does not apply).
        Skipped => "skipped",
    }
);

string_enum!(
    /// The cause of a key's trouble (`diagnose`).
    UpstreamClass, "upstream class" {
        /// The vendor completes a chat with the key, and so does the host (or there
        /// is no host-side result to compare).
        Ok => "ok",
        /// The vendor works directly but the host fails with the same key: the host's
        /// configuration or compatibility is at fault (Responses misdetection, model
        /// mapping, base URL, …).
        HostCompatibilityGap => "host_compatibility_gap",
        /// The vendor refuses the key (401/403, invalid-key codes).
        UpstreamKeyInvalid => "upstream_key_invalid",
        /// The vendor account has no balance or quota left.
        UpstreamQuotaExhausted => "upstream_quota_exhausted",
        /// The vendor rate-limits the key (429, transient throttling).
        UpstreamRateLimited => "upstream_rate_limited",
        /// The vendor did not answer or failed (transport error, 5xx).
        UpstreamUnreachable => "upstream_unreachable",
        /// The vendor refused the request for another reason (an unknown model, a bad
        /// parameter); see its message.
        UpstreamRejected => "upstream_rejected",
    }
);

string_enum!(
    /// What a vendor's own API did with one request of an upstream profile
    /// (`relay-upstream`): the endpoint or feature works, is absent, or could not be
    /// judged because of the key, the vendor or the network.
    UpstreamSupport, "upstream support" {
        /// A 2xx answer of the expected shape.
        Supported => "supported",
        /// The endpoint or feature is absent: 404, 405, 501, a 400 naming an unknown
        /// route (or refusing a stream or a tool the plain chat did without), a 2xx
        /// answer of another shape (an HTML page, no stream), a redirect.
        Unsupported => "unsupported",
        /// The vendor refused this request for another reason (400/422: an unknown
        /// model, a parameter it does not take); see the note.
        Rejected => "rejected",
        /// The vendor refused the key (401/403, invalid-key codes).
        AuthFailed => "auth_failed",
        /// The vendor account has no balance or quota left (402, balance texts).
        Quota => "quota",
        /// The vendor rate-limits the key (429).
        RateLimited => "rate_limited",
        /// The vendor failed (5xx, 408).
        UpstreamError => "upstream_error",
        /// No HTTP answer (connect, TLS, DNS, timeout).
        Unreachable => "unreachable",
        /// Not tried: the request cap was reached, an earlier answer settled it, or
        /// the request does not apply.
        Skipped => "skipped",
    }
);

string_enum!(
    /// Where a host-side observation of a key came from (`diagnose`).
    HostObservationSource, "host observation source" {
        /// The host's account test of the key's account.
        AccountTest => "account_test",
        /// A gateway probe (models + chat) through the host.
        GatewayProbe => "gateway_probe",
    }
);

string_enum!(
    /// What a failed gateway completion meant (the host's answer, typed).
    CompletionFailure, "completion failure" {
        /// The key middleware refused the probe key (unknown key, no group, balance).
        KeyRefused => "key_refused",
        /// The key's owner has no active subscription for the group (none, expired,
        /// suspended).
        SubscriptionMissing => "subscription_missing",
        /// No account could take the request (warm-up, all out of service).
        NoAvailableAccount => "no_available_account",
        /// No account of the group maps the model (final).
        ModelNotSupported => "model_not_supported",
        /// The upstream rate-limited the accounts.
        RateLimited => "rate_limited",
        /// Every tried account failed upstream (`502`).
        UpstreamFailed => "upstream_failed",
        /// The upstream's own error was passed through (e.g. a `/responses` 404).
        UpstreamRejected => "upstream_rejected",
        /// Anything else (including no HTTP answer).
        Other => "other",
    }
);

string_enum!(
    /// Why the host took a managed account out of service.
    OutOfServiceReason, "out of service reason" {
        /// The vendor answered 402 (no balance, quota or billing).
        QuotaExhausted => "quota_exhausted",
        /// The vendor rejected the key (401).
        KeyInvalid => "key_invalid",
        /// The vendor reported a low balance on an account of a native CN platform: the
        /// host benched it temporarily (`cn_balance_low`) and puts it back by itself once
        /// the vendor account is topped up. Not an error to clear.
        BalanceLow => "balance_low",
        /// Another reason the host gave (403 ban, custom rule, an operator).
        Other => "other",
    }
);

impl OutOfServiceReason {
    /// A short description (`vendor quota exhausted`, …) for reports.
    pub fn label(self) -> &'static str {
        match self {
            OutOfServiceReason::QuotaExhausted => "vendor quota exhausted",
            OutOfServiceReason::KeyInvalid => "vendor rejected the key",
            OutOfServiceReason::BalanceLow => {
                "vendor balance low: benched by the host, which schedules it again by itself"
            }
            OutOfServiceReason::Other => "in error",
        }
    }

    /// What the operator should do.
    pub fn fix(self) -> &'static str {
        match self {
            OutOfServiceReason::QuotaExhausted => {
                "top up the vendor account behind this key, then clear the account's error (reconcile with repair, or the host's clear-error); the capability repair does not apply"
            }
            OutOfServiceReason::KeyInvalid => {
                "the vendor rejects this key: import the provider again with a valid key (the old account can then be retired); the capability repair does not apply"
            }
            OutOfServiceReason::BalanceLow => {
                "top up the vendor account behind this key: the host benched the account for a low vendor balance and schedules it again by itself once its balance check sees the top-up (or when the bench ends); nothing to repair on the host"
            }
            OutOfServiceReason::Other => {
                "read the account's error message on the host, fix the cause, then clear the account's error"
            }
        }
    }
}

string_enum!(
    /// Severity of a pack's host overlay note.
    Severity, "severity" {
        /// Informational (default).
        Info => "info",
        /// Something the operator should act on.
        Warning => "warning",
    }
);

// `string_enum!` fixes the derives of the enum, so the default is written out.
#[allow(clippy::derivable_impls)]
impl Default for Severity {
    fn default() -> Self {
        Severity::Info
    }
}

string_enum!(
    /// Host platform an account and group are created on: exactly the group platforms
    /// sub2api 0.1.179 accepts (`anthropic openai gemini antigravity grok kimi zhipu
    /// deepseek composite`). The manager's Responses capability repair applies to
    /// `openai` only; `kimi`, `zhipu` and `deepseek` are the host's native CN platforms
    /// ([`Platform::is_cn_native`]), which it routes over Chat Completions itself.
    ///
    /// This is the closed set the manager creates objects on (a pack's `platform`); the
    /// host adapter's own platform type keeps any value a host sends.
    Platform, "platform" {
        /// OpenAI-compatible upstream (the normal case for Chinese vendors).
        Openai => "openai",
        /// Anthropic Messages upstream.
        Anthropic => "anthropic",
        /// Google Gemini upstream.
        Gemini => "gemini",
        /// Antigravity upstream.
        Antigravity => "antigravity",
        /// xAI Grok upstream.
        Grok => "grok",
        /// Moonshot Kimi, the host's native CN platform.
        Kimi => "kimi",
        /// Zhipu GLM, the host's native CN platform.
        Zhipu => "zhipu",
        /// DeepSeek, the host's native CN platform.
        Deepseek => "deepseek",
        /// The host's composite platform (groups mixing platforms).
        Composite => "composite",
    }
);

impl Platform {
    /// The host's native platforms for Chinese vendors (`kimi`, `zhipu`, `deepseek`;
    /// sub2api ≥ ≈0.1.178): API-key accounts on them are routed over Chat Completions
    /// by the host (no Responses probe) and a vendor balance failure benches them
    /// temporarily instead of putting them into `error`.
    pub fn is_cn_native(self) -> bool {
        matches!(self, Platform::Kimi | Platform::Zhipu | Platform::Deepseek)
    }

    /// The spellings of the native CN platforms.
    pub const CN_NATIVE: &'static [&'static str] = &["kimi", "zhipu", "deepseek"];
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{de::DeserializeOwned, Serialize};
    use std::fmt::Debug;
    use std::str::FromStr;

    /// serde's form (`rename_all = "snake_case"`) is the declared string, both ways.
    fn wire_is_as_str<T>(all: &[T], as_str: fn(T) -> &'static str)
    where
        T: Copy + Debug + PartialEq + Serialize + DeserializeOwned + FromStr,
    {
        for &v in all {
            let text = as_str(v);
            assert_eq!(serde_json::to_value(v).unwrap(), serde_json::json!(text));
            assert_eq!(
                serde_json::from_value::<T>(serde_json::json!(text)).unwrap(),
                v
            );
            assert!(text.parse::<T>().ok() == Some(v), "{text} parses back");
        }
    }

    #[test]
    fn every_vocabulary_sends_its_declared_strings() {
        wire_is_as_str(HostAuthKind::ALL, HostAuthKind::as_str);
        wire_is_as_str(PackSourceKind::ALL, PackSourceKind::as_str);
        wire_is_as_str(ReconcileTrigger::ALL, ReconcileTrigger::as_str);
        wire_is_as_str(ReconcileStatus::ALL, ReconcileStatus::as_str);
        wire_is_as_str(TestReason::ALL, TestReason::as_str);
        wire_is_as_str(ResourceChange::ALL, ResourceChange::as_str);
        wire_is_as_str(RetireReason::ALL, RetireReason::as_str);
        wire_is_as_str(AccountOutcome::ALL, AccountOutcome::as_str);
        wire_is_as_str(DifferenceKind::ALL, DifferenceKind::as_str);
        wire_is_as_str(RepairKind::ALL, RepairKind::as_str);
        wire_is_as_str(CheckName::ALL, CheckName::as_str);
        wire_is_as_str(CheckStatus::ALL, CheckStatus::as_str);
        wire_is_as_str(UpstreamClass::ALL, UpstreamClass::as_str);
        wire_is_as_str(UpstreamSupport::ALL, UpstreamSupport::as_str);
        wire_is_as_str(HostObservationSource::ALL, HostObservationSource::as_str);
        wire_is_as_str(CompletionFailure::ALL, CompletionFailure::as_str);
        wire_is_as_str(OutOfServiceReason::ALL, OutOfServiceReason::as_str);
        wire_is_as_str(Severity::ALL, Severity::as_str);
        wire_is_as_str(Platform::ALL, Platform::as_str);
        wire_is_as_str(SubscriberAction::ALL, SubscriberAction::as_str);
    }

    #[test]
    fn helpers_keep_their_meaning() {
        assert_eq!(Severity::default(), Severity::Info);
        assert!(AccountOutcome::Warning.is_good());
        assert!(!AccountOutcome::NotTested.is_good());
        let native: Vec<&str> = Platform::ALL
            .iter()
            .filter(|p| p.is_cn_native())
            .map(|p| p.as_str())
            .collect();
        assert_eq!(native, Platform::CN_NATIVE);
        assert_eq!(OutOfServiceReason::Other.label(), "in error");
        let e = "sora".parse::<Platform>().unwrap_err();
        assert_eq!(e.value, "sora");
        assert_eq!(
            e.expected,
            "openai, anthropic, gemini, antigravity, grok, kimi, zhipu, deepseek, composite"
        );
    }
}

string_enum!(
    /// Where a model-drift check read the vendor's live model list.
    ModelListSource, "model list source" {
        /// The host's upstream model sync with a managed account's stored key.
        HostSync => "host_sync",
        /// The vendor's own `GET /models` with a key the operator supplied (opt-in).
        DirectProbe => "direct_probe",
    }
);
