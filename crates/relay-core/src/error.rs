//! Errors of the access-level host work: the access closure, the gateway probe,
//! the capability repair and the rollback of managed user keys. No message
//! contains a secret.

use relay_sub2api::{HostError, LoginBlocked, ObjectId};
use serde::Serialize;

use crate::journal::{JournalError, ScopeMismatch};
use crate::vault::VaultError;

/// Why a step of the access closure (or of the access-level host work it shares
/// with the other flows) failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AccessError {
    /// Backend mode is on: the host lets only admins log in, so no user key can be
    /// created for a managed subscriber.
    #[error("cannot log in as {email}: the host is in backend mode (only admins may log in); turn backend mode off, or use self-service access with a supplied key ({message})")]
    LoginBackendMode {
        /// E-mail of the managed subscriber the manager tried to log in as.
        email: String,
        /// The host's message.
        message: String,
    },
    /// The host requires a Turnstile captcha on login.
    #[error("cannot log in as {email}: the host requires Turnstile verification on login; disable Turnstile for login, or use self-service access ({message})")]
    LoginTurnstile {
        /// E-mail of the managed subscriber the manager tried to log in as.
        email: String,
        /// The host's message.
        message: String,
    },
    /// Another captcha (Tencent, Aliyun) guards login.
    #[error("cannot log in as {email}: the host requires a {provider} captcha on login, which a program cannot pass; turn the login captcha off in the host's settings, or use self-service access ({message})")]
    LoginCaptcha {
        /// E-mail of the managed subscriber the manager tried to log in as.
        email: String,
        /// `tencent`, `aliyun` or `captcha`.
        provider: String,
        /// The host's message.
        message: String,
    },
    /// The subscriber has two-factor login enabled.
    #[error("cannot log in as {email}: the user has two-factor authentication enabled; disable 2FA for this user or choose another subscriber e-mail")]
    LoginTwoFactor {
        /// E-mail of the managed subscriber the manager tried to log in as.
        email: String,
    },
    /// The stored password does not match the host user.
    #[error("cannot log in as {email}: the host refused the stored password; the user was changed outside the manager (reset its password or delete it so it is recreated)")]
    LoginInvalidCredentials {
        /// E-mail of the managed subscriber the manager tried to log in as.
        email: String,
    },
    /// The subscriber is disabled on the host.
    #[error("cannot log in as {email}: the user is disabled on the host; enable it")]
    LoginUserNotActive {
        /// E-mail of the managed subscriber the manager tried to log in as.
        email: String,
    },
    /// A user with the subscriber's e-mail exists but the manager does not hold its
    /// password (it was not created by the manager).
    #[error("user {email} exists on the host but was not created by the relay manager, so it cannot log in to create a key; choose another e-mail or delete that user")]
    UnmanagedUser {
        /// E-mail of the existing host user.
        email: String,
    },
    /// A selected host user does not exist.
    #[error("host user {user_id} does not exist")]
    UserNotFound {
        /// The host user id the operator selected.
        user_id: ObjectId,
    },
    /// The subscriber's subscription exists but is not active.
    #[error("subscription {subscription_id} of user {user_id} to group {group_id} is {status}; extend or renew it on the host")]
    SubscriptionInactive {
        /// Host id of the inactive subscription.
        subscription_id: ObjectId,
        /// Host user the subscription belongs to.
        user_id: ObjectId,
        /// Host group the subscription is for.
        group_id: ObjectId,
        /// The subscription's host status (e.g. `expired`), verbatim.
        status: String,
    },
    /// The host refused the subscription and no existing one could be found.
    #[error("the host refused the subscription of user {user_id} to group {group_id} ({reason}: {message})")]
    SubscriptionConflict {
        /// Host user the manager tried to subscribe.
        user_id: ObjectId,
        /// Host group of the refused subscription.
        group_id: ObjectId,
        /// The host's conflict reason.
        reason: String,
        /// The host's message.
        message: String,
    },
    /// The supplied key is not bound to the provider's group.
    #[error("the supplied key {mask} is not bound to group {group_id}; bind it to the group (or create a key in that group) and try again")]
    KeyNotBound {
        /// Mask of the key.
        mask: String,
        /// The provider's group the key should be bound to.
        group_id: ObjectId,
    },
    /// The supplied key is bound to the group but disabled.
    #[error("the supplied key {mask} is {status} on the host; enable it")]
    KeyInactive {
        /// Mask of the key.
        mask: String,
        /// The key's host status (e.g. `disabled`), verbatim.
        status: String,
    },
    /// The host refuses every create with a chosen key for this user: it counts
    /// failed creates (`API_KEY_EXISTS`) and locks at 20 until 24 h after the last.
    #[error("the host locked key creation for {email} after too many failed key creates (API_KEY_RATE_LIMITED); it unlocks 24 h after the last failure, or delete the user on the host so the manager recreates it")]
    KeyCreateLocked {
        /// E-mail of the managed subscriber whose key creation is locked.
        email: String,
    },
    /// The probe subscriber has no usable key, so the gateway cannot be probed.
    #[error("no user key for the probe subscriber {email}; see the earlier problem")]
    NoProbeKey {
        /// E-mail of the probe subscriber.
        email: String,
    },
    /// A host call failed.
    #[error("{step} failed: {source}")]
    Host {
        /// What was being done.
        step: String,
        /// The adapter error.
        #[source]
        source: HostError,
    },
    /// The journal failed; the closure stopped.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The vault failed; the closure stopped.
    #[error(transparent)]
    Vault(#[from] VaultError),
}

impl AccessError {
    /// Wraps a host error with the step that failed.
    pub fn host(step: impl Into<String>, source: HostError) -> Self {
        AccessError::Host {
            step: step.into(),
            source,
        }
    }

    /// The error for a blocked login.
    pub fn login_blocked(email: &str, blocked: LoginBlocked) -> Self {
        let email = email.to_string();
        match blocked {
            LoginBlocked::BackendMode { message } => {
                AccessError::LoginBackendMode { email, message }
            }
            LoginBlocked::TurnstileRequired { message } => {
                AccessError::LoginTurnstile { email, message }
            }
            LoginBlocked::CaptchaRequired { provider, message } => AccessError::LoginCaptcha {
                email,
                provider,
                message,
            },
            LoginBlocked::TwoFactorRequired => AccessError::LoginTwoFactor { email },
            LoginBlocked::InvalidCredentials => AccessError::LoginInvalidCredentials { email },
            LoginBlocked::UserNotActive => AccessError::LoginUserNotActive { email },
        }
    }

    /// A stable machine code for the error.
    pub fn code(&self) -> &'static str {
        match self {
            AccessError::LoginBackendMode { .. } => "login_backend_mode",
            AccessError::LoginTurnstile { .. } => "login_turnstile",
            AccessError::LoginCaptcha { .. } => "login_captcha",
            AccessError::LoginTwoFactor { .. } => "login_two_factor",
            AccessError::LoginInvalidCredentials { .. } => "login_invalid_credentials",
            AccessError::LoginUserNotActive { .. } => "login_user_not_active",
            AccessError::UnmanagedUser { .. } => "unmanaged_user",
            AccessError::UserNotFound { .. } => "user_not_found",
            AccessError::SubscriptionInactive { .. } => "subscription_inactive",
            AccessError::SubscriptionConflict { .. } => "subscription_conflict",
            AccessError::KeyNotBound { .. } => "key_not_bound",
            AccessError::KeyInactive { .. } => "key_inactive",
            AccessError::KeyCreateLocked { .. } => "key_create_locked",
            AccessError::NoProbeKey { .. } => "no_probe_key",
            AccessError::Host { .. } => "host_error",
            AccessError::Journal(_) => "journal_unavailable",
            AccessError::Vault(_) => "vault_unavailable",
        }
    }

    /// True for errors that must stop the whole operation (the journal or vault
    /// failed) rather than only make one access mode broken.
    pub fn is_fatal(&self) -> bool {
        matches!(self, AccessError::Journal(_) | AccessError::Vault(_))
    }

    /// The error as a report entry about `subject`.
    pub fn to_problem(&self, subject: impl Into<String>) -> AccessProblem {
        AccessProblem {
            subject: subject.into(),
            code: self.code().to_string(),
            message: self.to_string(),
        }
    }
}

/// A problem found while closing access, as it appears in reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessProblem {
    /// What it is about (`relay-probe@…`, `user 12`, `key sk-c…9f3c`).
    pub subject: String,
    /// Machine code ([`AccessError::code`]).
    pub code: String,
    /// Human-readable message with the fix.
    pub message: String,
}

/// Why kernel work shared by every flow failed: a host call the flow cannot do
/// without, the journal, the vault, or a journal opened for another provider. The
/// flow crates' errors wrap it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CoreError {
    /// A host call failed.
    #[error("{step} failed: {source}")]
    Host {
        /// What was being done.
        step: String,
        /// The adapter error.
        #[source]
        source: HostError,
    },
    /// The journal failed.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The subscriber vault failed.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// The journal handle belongs to another pack or provider than the target.
    #[error(transparent)]
    ScopeMismatch(#[from] ScopeMismatch),
}

impl CoreError {
    /// Wraps a host error with the step that failed.
    pub fn host(step: impl Into<String>, source: HostError) -> Self {
        CoreError::Host {
            step: step.into(),
            source,
        }
    }

    /// A stable machine code for the error.
    pub fn code(&self) -> &'static str {
        match self {
            CoreError::Host { .. } => "host_error",
            CoreError::Journal(_) => "journal_unavailable",
            CoreError::Vault(_) => "vault_unavailable",
            CoreError::ScopeMismatch(_) => "scope_mismatch",
        }
    }
}
