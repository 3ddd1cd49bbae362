//! Access closure: reports, proofs, status and preview.

#[allow(unused_imports)]
use crate::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
#[allow(unused_imports)]
use std::collections::BTreeMap;

/// Result of an access closure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AccessReport {
    /// The group.
    pub group_id: i64,
    /// Derived from both proofs (`AccessStatus::derive`).
    #[schemars(with = "Domain<AccessStatus>")]
    pub status: AccessStatus,
    /// Proof of subscription access.
    #[schemars(with = "Domain<ModeProof>")]
    pub subscription: ModeProof,
    /// Proof of self-service access.
    #[schemars(with = "Domain<ModeProof>")]
    pub self_service: ModeProof,
    /// Details of the subscription closure, when attempted.
    pub subscription_detail: Option<SubscriptionReport>,
    /// Details of the self-service check, when attempted.
    pub self_service_detail: Option<SelfServiceReport>,
}

/// Result of the subscription closure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SubscriptionReport {
    /// The group.
    pub group_id: i64,
    /// Per subscriber, the probe subscriber first.
    pub subscribers: Vec<SubscriberOutcome>,
    /// The gateway proof with the probe subscriber's key.
    pub proof: Option<AccessProof>,
    /// Completion-gated verdict of the mode.
    #[schemars(with = "Domain<ModeProof>")]
    pub status: ModeProof,
}

/// What happened for one subscriber.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SubscriberOutcome {
    /// E-mail, or `user <id>`.
    pub subscriber: String,
    /// Host user id, when known.
    pub user_id: Option<i64>,
    /// The manager holds this user's password (sealed).
    pub managed: bool,
    /// The managed probe subscriber.
    pub probe: bool,
    /// The manager created the user now.
    pub user_created: bool,
    /// The subscription to the group.
    pub subscription_id: Option<i64>,
    /// The manager assigned it now.
    pub subscription_created: bool,
    /// The user key bound to the group.
    pub key_id: Option<i64>,
    /// Its fingerprint.
    pub key_fingerprint: Option<String>,
    /// Its mask.
    pub key_mask: Option<String>,
    /// The manager created the key now.
    pub key_created: bool,
    /// Problems (each makes this subscriber unusable).
    pub problems: Vec<AccessProblem>,
    /// Advisory notes.
    pub warnings: Vec<String>,
}

/// Result of the self-service check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SelfServiceReport {
    /// The group.
    pub group_id: i64,
    /// Fingerprint of the supplied key.
    pub key_fingerprint: String,
    /// Mask of the supplied key.
    pub key_mask: String,
    /// The supplied key is bound to the group on the host.
    pub bound: bool,
    /// Host id of the key, when found.
    pub key_id: Option<i64>,
    /// Owner of the key, when found.
    pub owner_user_id: Option<i64>,
    /// The gateway proof (absent when the key is not bound or not active).
    pub proof: Option<AccessProof>,
    /// Completion-gated verdict of the mode.
    #[schemars(with = "Domain<ModeProof>")]
    pub status: ModeProof,
    /// Why the mode is broken, when it is.
    pub problems: Vec<AccessProblem>,
}

/// A problem found while closing access, as it appears in reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AccessProblem {
    /// What it is about (`relay-probe@…`, `user 12`, `key sk-c…9f3c`).
    pub subject: String,
    /// Machine code (`AccessError::code`).
    pub code: AccessProblemCode,
    /// Human-readable message with the fix.
    pub message: String,
}

contract_enum!(
    /// Machine code of an access problem.
    AccessProblemCode, "access problem code" {
        /// The host is in backend mode: non-admin users cannot log in.
        LoginBackendMode => "login_backend_mode",
        /// The host asks for a Turnstile challenge at login.
        LoginTurnstile => "login_turnstile",
        /// The host asks for a captcha at login.
        LoginCaptcha => "login_captcha",
        /// The user has two-factor login.
        LoginTwoFactor => "login_two_factor",
        /// The managed password was refused.
        LoginInvalidCredentials => "login_invalid_credentials",
        /// The user is disabled on the host.
        LoginUserNotActive => "login_user_not_active",
        /// The user exists but its password is not managed here.
        UnmanagedUser => "unmanaged_user",
        /// No host user has this id.
        UserNotFound => "user_not_found",
        /// The subscription exists but is not active.
        SubscriptionInactive => "subscription_inactive",
        /// The host refused the subscription.
        SubscriptionConflict => "subscription_conflict",
        /// The key is not bound to the group.
        KeyNotBound => "key_not_bound",
        /// The key is not active.
        KeyInactive => "key_inactive",
        /// The host locks custom key creation for now.
        KeyCreateLocked => "key_create_locked",
        /// No probe key to prove the mode with.
        NoProbeKey => "no_probe_key",
        /// The host answered with an error.
        HostError => "host_error",
        /// The journal could not be read or written.
        JournalUnavailable => "journal_unavailable",
        /// The sealed secrets could not be read or written.
        VaultUnavailable => "vault_unavailable",
    }
);

/// The gateway proof of one access mode; the key appears as fingerprint and mask only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AccessProof {
    /// The mode probed.
    #[schemars(with = "Domain<AccessMode>")]
    pub mode: AccessMode,
    /// Where the key came from.
    #[schemars(with = "Domain<ProbeKeySource>")]
    pub key_source: ProbeKeySource,
    /// Fingerprint of the probe key.
    pub key_fingerprint: String,
    /// Mask of the probe key.
    pub key_mask: String,
    /// The smoke model.
    pub smoke_model: String,
    /// HTTP status of the last `GET /v1/models`.
    pub models_status: Option<i64>,
    /// The last model list named the smoke model.
    pub smoke_model_seen: bool,
    /// Number of models listed by the last `GET /v1/models`.
    pub models_listed: u64,
    /// HTTP status of the last chat completion.
    pub completion_status: Option<i64>,
    /// The last chat completion succeeded.
    pub completion_ok: bool,
    /// What the last failed completion meant, from the host's status and body (null on success).
    #[schemars(with = "Option<Domain<AccessProofCompletionFailure>>")]
    pub completion_failure: Option<AccessProofCompletionFailure>,
    /// `chat.completion` (or `chat.completion.chunk`) on success, else the host's error type or code.
    pub completion_type: Option<String>,
    /// First characters of the completion text.
    pub completion_preview: Option<String>,
    /// Model echoed by the host.
    pub completion_model: Option<String>,
    /// The host's last error message, verbatim.
    pub message: Option<String>,
    /// Attempts made (model list + completion each).
    pub attempts: u64,
    /// Wall time of the whole probe.
    pub elapsed_ms: u64,
    /// Wall time of the last `GET /v1/models`.
    pub models_ms: Option<i64>,
    /// Wall time of the last completion.
    pub completion_ms: Option<i64>,
    /// Capability repairs applied during this probe.
    pub repairs: Vec<CapabilityRepair>,
    /// Managed accounts of the group the host put into `error` after an upstream payment (402) or key (401) failure, or (native CN platforms) benched for a low vendor balance, as last read during the probe. Not repaired; each names its fix.
    pub accounts_out_of_service: Vec<AccountOutOfService>,
    /// Completion-gated verdict.
    #[schemars(with = "Domain<ModeProof>")]
    pub proof: ModeProof,
}

/// A managed account out of service on the host for a reason the capability repair does not fix. Carries no host or vendor message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AccountOutOfService {
    /// Host account id.
    pub account_id: i64,
    /// Account name.
    pub account_name: String,
    /// `quota_exhausted` (402, account in error), `key_invalid` (401), `balance_low` (an account of a native CN platform — kimi, zhipu, deepseek — that the host benched temporarily (`cn_balance_low`) after the vendor reported a low balance; the host schedules it again by itself once the vendor account is topped up), `other`.
    #[schemars(with = "Domain<AccountOutOfServiceReason>")]
    pub reason: AccountOutOfServiceReason,
    /// End of the host's bench (`balance_low`), as the host reports it.
    pub until: Option<String>,
    /// What to do.
    pub fix: String,
}

/// An account repaired during a probe (responses-mode flags reset, error state cleared).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CapabilityRepair {
    /// Host account id.
    pub account_id: i64,
    /// Account name.
    pub account_name: String,
    /// `extra.openai_responses_mode` before the repair.
    pub previous_mode: Option<String>,
    /// `extra.openai_responses_supported` before the repair.
    pub previous_supported: Option<bool>,
    /// The account's error state was cleared (and the account put back into scheduling, which the host's clear-error alone does not do).
    pub cleared_error: bool,
    /// The temporary-unschedulable state was cleared (false on builds without it).
    pub cleared_temp_unschedulable: bool,
    /// Every repair call succeeded.
    pub ok: bool,
    /// The host's error, when a call failed.
    pub error: Option<String>,
}

/// The latest access proofs of a provider on a host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AccessStatusView {
    /// The registered host.
    pub host_id: String,
    /// Id of the pack.
    pub pack_id: String,
    /// Id of the provider in its pack.
    pub provider_id: String,
    /// Derived access status.
    #[schemars(with = "Domain<AccessStatus>")]
    pub access_status: AccessStatus,
    /// Latest subscription proof.
    pub subscription: Option<AccessClosureRecord>,
    /// Latest self-service proof.
    pub self_service: Option<AccessClosureRecord>,
}

/// What an access closure would do (read-only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AccessPreview {
    /// The registered host.
    pub host_id: String,
    /// Id of the pack.
    pub pack_id: String,
    /// Id of the provider in its pack.
    pub provider_id: String,
    /// The access mode previewed.
    #[schemars(with = "Domain<AccessMode>")]
    pub access_mode: AccessMode,
    /// The provider's managed group for this mode.
    pub group: AccessPreviewGroup,
    /// Subscription mode only (empty otherwise); the managed probe subscriber first.
    pub subscribers: Vec<SubscriberPreview>,
    /// The supplied probe key (or, in self-service mode without one, the stored one) as mask and fingerprint; null when none.
    pub probe_key: Option<ProbeKeyPreview>,
    /// The model the gateway proof asks for.
    pub smoke_test_model: String,
    /// Advisory findings.
    pub warnings: Vec<String>,
    /// Why access would not be ready (empty when it would).
    pub problems: Vec<String>,
}

/// The provider's managed subscription group, by name (and host id once it exists).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AccessPreviewGroup {
    /// Name of the provider's managed group for the mode.
    pub name: String,
    /// Its id on the host; null when it does not exist yet.
    pub host_id: Option<i64>,
}

/// A provider's status on one host or every host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProviderStatusView {
    /// The provider.
    pub provider: ProviderSummary,
    /// Per-host state, access proofs and resource counts.
    pub hosts: Vec<ProviderHostStatus>,
}

/// A provider's state on one host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProviderHostStatus {
    /// The install record (status, access status, last batch, …).
    pub install: ProviderInstallRecord,
    /// Latest subscription proof.
    pub subscription: Option<AccessClosureRecord>,
    /// Latest self-service proof.
    pub self_service: Option<AccessClosureRecord>,
    /// Recorded host objects by type, then by state, e.g. `{"account":{"created":3}}`.
    pub resources: BTreeMap<String, BTreeMap<String, u64>>,
}

/// One subscriber of an access preview.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum SubscriberPreview {
    /// A subscriber by e-mail (the managed probe subscriber, or one asked for).
    Email {
        /// The e-mail address.
        email: String,
        /// The host user with that address, when there is one.
        host_user_id: Option<i64>,
        /// Its password is managed here (it can get a probe key).
        managed: bool,
        /// What the closure would do.
        #[schemars(with = "Domain<SubscriberAction>")]
        action: SubscriberAction,
    },
    /// An existing host user by id.
    UserId {
        /// The host user id.
        user_id: i64,
        /// Its e-mail address on the host.
        email: String,
        /// Always `assign`: it gets a subscription, no probe key.
        action: AssignAction,
    },
}

contract_enum!(
    /// What an access closure does with a subscriber given by host user id.
    AssignAction, "assign action" {
        /// A subscription is assigned.
        Assign => "assign",
    }
);

/// The probe key an access preview would use, as mask and fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ProbeKeyPreview {
    /// The key supplied with the request.
    Supplied {
        /// Its mask.
        mask: String,
        /// Its fingerprint.
        fingerprint: String,
        /// It is one of the group's user keys.
        bound_to_group: bool,
    },
    /// The stored probe key (self-service mode without a supplied key).
    Stored {
        /// Its mask.
        mask: String,
        /// Its fingerprint.
        fingerprint: String,
        /// Always `true`.
        stored: bool,
    },
}
