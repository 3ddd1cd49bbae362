//! Every status of SPEC §3 and its state machine. Status strings live here once.
//!
//! Each machine is a pure function `transition(self, event) -> Result<Self, InvalidTransition>`
//! that rejects every move the specification does not allow.

use serde::{Deserialize, Serialize};

/// A move that a state machine does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{machine}: cannot apply `{event}` in state `{from}`")]
pub struct InvalidTransition {
    /// Which machine (`provider`, `batch`, …).
    pub machine: &'static str,
    /// The current state.
    pub from: String,
    /// The rejected event.
    pub event: String,
}

/// A status string that is not one of the known values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{value}`: expected one of {expected}")]
pub struct UnknownStatus {
    /// Which status type.
    pub kind: &'static str,
    /// The rejected value.
    pub value: String,
    /// The accepted values, comma separated.
    pub expected: String,
}

/// Declares a status-like enum whose variants have stable snake_case strings:
/// `ALL`, `as_str`, `Display`, `FromStr` (errors with [`UnknownStatus`]) and serde.
/// Used here and by other crates for their stored vocabularies.
#[macro_export]
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident, $kind:literal { $($(#[$vmeta:meta])* $variant:ident => $s:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable string form (stored, and used on the wire).
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $s),+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::status::UnknownStatus;
            fn from_str(s: &str) -> ::std::result::Result<Self, Self::Err> {
                match s {
                    $($s => Ok($name::$variant),)+
                    _ => Err($crate::status::UnknownStatus {
                        kind: $kind,
                        value: s.to_string(),
                        expected: [$($s),+].join(", "),
                    }),
                }
            }
        }
    };
}

string_enum!(
    /// What a probe exercised (probe records, stored and reported).
    ProbeKind, "probe kind" {
        /// The host's account test (SSE) with the smoke model.
        AccountTest => "account_test",
        /// The host's model list of an account.
        AccountModels => "account_models",
        /// `GET /v1/models` through the gateway with a user key.
        GatewayModels => "gateway_models",
        /// `POST /v1/chat/completions` through the gateway with a user key.
        GatewayChat => "gateway_chat",
        /// Host reachability (unauthenticated `/v1/models`, version).
        Reachability => "reachability",
        /// A direct call to the vendor with the upstream key (operator consent).
        UpstreamDirect => "upstream_direct",
    }
);

string_enum!(
    /// Where the key of an access probe came from (not to be confused with the
    /// source of the store's master key).
    ProbeKeySource, "probe key source" {
        /// A user key the manager obtained for its managed probe subscriber.
        ManagedSubscription => "managed_subscription",
        /// A user key the operator supplied.
        SuppliedKey => "supplied_key",
    }
);

string_enum!(
    /// Status of a provider: pack-level (`discovered → validated → installed`) and,
    /// per host, the install's health (`active ⇄ degraded ⇄ drifted`, `failed`, `disabled`).
    ProviderStatus, "provider status" {
        /// Found in a pack, not yet validated.
        Discovered => "discovered",
        /// Its manifest passed validation.
        Validated => "validated",
        /// Installed with its pack; nothing on a host yet.
        Installed => "installed",
        /// Host resources exist, accounts pass, at least one access mode proven.
        Active => "active",
        /// Resources exist but smoke, model probe or access closure partly fails.
        Degraded => "degraded",
        /// The host differs from the record.
        Drifted => "drifted",
        /// The last operation failed.
        Failed => "failed",
        /// Excluded from reconcile.
        Disabled => "disabled",
    }
);

/// Events that move a [`ProviderStatus`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderEvent {
    /// The manifest validated.
    Validate,
    /// The pack was installed.
    Install,
    /// An import or reconcile found everything healthy.
    Healthy,
    /// An import or reconcile found partial failure.
    Degrade,
    /// A reconcile found the host differing from the record.
    Drift,
    /// An operation failed.
    Fail,
    /// The operator disabled the provider.
    Disable,
    /// The operator enabled a disabled provider.
    Enable,
    /// Everything recorded on the host was rolled back.
    RolledBack,
}

impl ProviderStatus {
    /// Applies an event, rejecting moves outside SPEC §3.
    pub fn transition(self, event: ProviderEvent) -> Result<ProviderStatus, InvalidTransition> {
        use ProviderEvent as E;
        use ProviderStatus as S;
        let next = match (self, event) {
            (_, E::Fail) if self != S::Disabled => Some(S::Failed),
            (_, E::Disable) => Some(S::Disabled),
            (S::Disabled, E::Enable) => Some(S::Installed),
            (S::Discovered, E::Validate) => Some(S::Validated),
            (S::Validated, E::Install) => Some(S::Installed),
            // An import (or a later reconcile) proves health.
            (S::Installed | S::Active | S::Degraded | S::Drifted | S::Failed, E::Healthy) => {
                Some(S::Active)
            }
            (S::Installed | S::Active | S::Degraded | S::Drifted | S::Failed, E::Degrade) => {
                Some(S::Degraded)
            }
            (S::Installed | S::Active | S::Degraded | S::Drifted | S::Failed, E::Drift) => {
                Some(S::Drifted)
            }
            (S::Active | S::Degraded | S::Drifted | S::Failed | S::Installed, E::RolledBack) => {
                Some(S::Installed)
            }
            _ => None,
        };
        next.ok_or_else(|| InvalidTransition {
            machine: "provider",
            from: self.to_string(),
            event: format!("{event:?}"),
        })
    }
}

string_enum!(
    /// Status of an import batch.
    BatchStatus, "batch status" {
        /// Created, nothing done.
        Pending => "pending",
        /// The preview ran.
        Previewed => "previewed",
        /// Host objects are being created and tested.
        Running => "running",
        /// Every key passed (warnings allowed).
        Succeeded => "succeeded",
        /// Partial mode kept the good keys.
        PartiallySucceeded => "partially_succeeded",
        /// The import (or its rollback) failed.
        Failed => "failed",
        /// A rollback is deleting what the batch created.
        RollbackRunning => "rollback_running",
        /// Everything the batch created is gone.
        RolledBack => "rolled_back",
        /// Found running at start-up after a crash; resume or roll back.
        Interrupted => "interrupted",
    }
);

/// Events that move a [`BatchStatus`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchEvent {
    /// The preview finished.
    Preview,
    /// The import started (or resumed).
    Start,
    /// Every key passed.
    Succeed,
    /// Partial mode finished with some keys failed.
    PartiallySucceed,
    /// The import or the rollback failed.
    Fail,
    /// A rollback started.
    StartRollback,
    /// The rollback removed everything.
    RollbackDone,
    /// The server found the batch running at start-up.
    Interrupt,
}

impl BatchStatus {
    /// Applies an event, rejecting moves outside SPEC §3.
    pub fn transition(self, event: BatchEvent) -> Result<BatchStatus, InvalidTransition> {
        use BatchEvent as E;
        use BatchStatus as S;
        let next = match (self, event) {
            (S::Pending, E::Preview) => Some(S::Previewed),
            (S::Previewed | S::Interrupted, E::Start) => Some(S::Running),
            (S::Running, E::Succeed) => Some(S::Succeeded),
            (S::Running, E::PartiallySucceed) => Some(S::PartiallySucceeded),
            (S::Pending | S::Previewed | S::Running | S::RollbackRunning, E::Fail) => {
                Some(S::Failed)
            }
            (
                S::Failed | S::Succeeded | S::PartiallySucceeded | S::Interrupted,
                E::StartRollback,
            ) => Some(S::RollbackRunning),
            (S::RollbackRunning, E::RollbackDone) => Some(S::RolledBack),
            (S::Running | S::RollbackRunning, E::Interrupt) => Some(S::Interrupted),
            _ => None,
        };
        next.ok_or_else(|| InvalidTransition {
            machine: "batch",
            from: self.to_string(),
            event: format!("{event:?}"),
        })
    }

    /// True for states no worker will move on its own.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            BatchStatus::Succeeded
                | BatchStatus::PartiallySucceeded
                | BatchStatus::Failed
                | BatchStatus::RolledBack
        )
    }
}

string_enum!(
    /// Whether an ordinary user can call the model (SPEC §3). Ready is completion-gated.
    AccessStatus, "access status" {
        /// No access mode was attempted.
        NotConfigured => "not_configured",
        /// A managed subscriber's key listed the model and completed a chat.
        SubscriptionReady => "subscription_ready",
        /// The operator's supplied key listed the model and completed a chat.
        SelfServiceReady => "self_service_ready",
        /// Both modes are proven.
        FullyReady => "fully_ready",
        /// A mode was attempted and not proven.
        Broken => "broken",
    }
);

/// The proof of one access mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModeProof {
    /// The mode was not attempted.
    NotAttempted,
    /// `/v1/models` listed the smoke model AND a chat completion succeeded.
    Ready,
    /// Attempted, and not both of the above.
    Broken,
}

impl ModeProof {
    /// Completion-gated readiness: models-only is never ready.
    pub fn from_probe(models_lists_smoke_model: bool, completion_succeeded: bool) -> ModeProof {
        if models_lists_smoke_model && completion_succeeded {
            ModeProof::Ready
        } else {
            ModeProof::Broken
        }
    }
}

impl AccessStatus {
    /// Derives the access status from the proofs of both modes.
    pub fn derive(subscription: ModeProof, self_service: ModeProof) -> AccessStatus {
        use ModeProof::*;
        match (subscription, self_service) {
            (Ready, Ready) => AccessStatus::FullyReady,
            (Ready, _) => AccessStatus::SubscriptionReady,
            (_, Ready) => AccessStatus::SelfServiceReady,
            (NotAttempted, NotAttempted) => AccessStatus::NotConfigured,
            _ => AccessStatus::Broken,
        }
    }

    /// True when at least one mode is proven.
    pub fn is_ready(self) -> bool {
        matches!(
            self,
            AccessStatus::SubscriptionReady
                | AccessStatus::SelfServiceReady
                | AccessStatus::FullyReady
        )
    }
}

string_enum!(
    /// Status of a registered host.
    HostStatus, "host status" {
        /// Reachable, every hard capability present, version accepted.
        Supported => "supported",
        /// A hard capability is missing or the version is outside every pack's `host_compat`.
        Unsupported => "unsupported",
        /// The host did not answer.
        Unreachable => "unreachable",
    }
);

string_enum!(
    /// Access mode of an import.
    AccessMode, "access mode" {
        /// Managed subscriber users with subscriptions and keys.
        Subscription => "subscription",
        /// The operator supplies a user key.
        SelfService => "self_service",
    }
);

string_enum!(
    /// Import mode.
    ImportMode, "import mode" {
        /// Any blocking failure rolls back the whole batch.
        Strict => "strict",
        /// Keep the good accounts.
        Partial => "partial",
    }
);

string_enum!(
    /// Outcome of an account test or probe after classification (SPEC §7).
    Verdict, "verdict" {
        /// Passed.
        Passed => "passed",
        /// Failed for an advisory or transient reason; not blocking.
        Warning => "warning",
        /// Blocking failure.
        Failed => "failed",
    }
);

string_enum!(
    /// Per-key plan of a preview.
    KeyPlan, "key plan" {
        /// A new key: an account will be created.
        New => "new",
        /// The same key appeared earlier in this request.
        DuplicateInRequest => "duplicate_in_request",
        /// A managed account with this key already exists for the provider on the host.
        AlreadyImported => "already_imported",
    }
);

string_enum!(
    /// Status of one key of an import batch.
    ItemStatus, "item status" {
        /// Not processed yet.
        Pending => "pending",
        /// Already imported earlier; no account created.
        AlreadyImported => "already_imported",
        /// Duplicate inside the request; skipped.
        DuplicateInRequest => "duplicate_in_request",
        /// The account exists on the host; not tested yet.
        Created => "created",
        /// The account test passed.
        Passed => "passed",
        /// The account test failed for an advisory reason.
        Warning => "warning",
        /// Blocking failure.
        Failed => "failed",
        /// The account was removed by a rollback.
        RolledBack => "rolled_back",
    }
);

/// The status a batch item starts in, from its key's preview plan: a new key is
/// `pending` (an account is about to be created), a repeated key and an imported
/// one are skipped with their plan as status.
///
/// ```
/// use relay_domain::{ItemStatus, KeyPlan};
/// assert_eq!(ItemStatus::from(KeyPlan::New), ItemStatus::Pending);
/// assert_eq!(ItemStatus::from(KeyPlan::AlreadyImported), ItemStatus::AlreadyImported);
/// ```
impl From<KeyPlan> for ItemStatus {
    fn from(plan: KeyPlan) -> ItemStatus {
        match plan {
            KeyPlan::New => ItemStatus::Pending,
            KeyPlan::DuplicateInRequest => ItemStatus::DuplicateInRequest,
            KeyPlan::AlreadyImported => ItemStatus::AlreadyImported,
        }
    }
}

string_enum!(
    /// Plan for one host resource in a preview.
    ResourceAction, "resource action" {
        /// It will be created.
        Create => "create",
        /// Exactly one suitable object exists and will be reused.
        Reuse => "reuse",
        /// It exists and will be updated to match the pack.
        Update => "update",
        /// Several candidates exist, or one that cannot be used.
        Conflict => "conflict",
    }
);

string_enum!(
    /// Kind of host object the manager records.
    ResourceType, "resource type" {
        /// A host group.
        Group => "group",
        /// A host channel.
        Channel => "channel",
        /// A subscription plan.
        Plan => "plan",
        /// An upstream account.
        Account => "account",
        /// A managed subscriber user.
        User => "user",
        /// A user API key the manager created.
        UserKey => "user_key",
        /// A subscription the manager assigned.
        Subscription => "subscription",
    }
);

impl ResourceType {
    /// Rollback order (SPEC §4.6): subscriptions, user keys, accounts, channel, plan,
    /// group, then users. Lower sorts first.
    pub fn rollback_rank(self) -> u8 {
        match self {
            ResourceType::Subscription => 0,
            ResourceType::UserKey => 1,
            ResourceType::Account => 2,
            ResourceType::Channel => 3,
            ResourceType::Plan => 4,
            ResourceType::Group => 5,
            ResourceType::User => 6,
        }
    }
}

string_enum!(
    /// Life of a managed resource record.
    ResourceState, "resource state" {
        /// Journaled before the create call; host id not known yet.
        Intent => "intent",
        /// Created by the manager; host id known.
        Created => "created",
        /// An existing host object reused, not created: rollback leaves it.
        Reused => "reused",
        /// Found on the host while resolving an intent after a crash.
        Adopted => "adopted",
        /// An intent the host never completed.
        Absent => "absent",
        /// Deleted by a rollback (or found already gone).
        Deleted => "deleted",
        /// A stale account replaced by a newer import and deleted.
        Retired => "retired",
    }
);

impl ResourceState {
    /// True when the object is (believed to be) on the host and owned by the manager.
    pub fn is_owned_live(self) -> bool {
        matches!(self, ResourceState::Created | ResourceState::Adopted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_happy_path_and_illegal_moves() {
        let s = ProviderStatus::Discovered
            .transition(ProviderEvent::Validate)
            .and_then(|s| s.transition(ProviderEvent::Install))
            .and_then(|s| s.transition(ProviderEvent::Healthy))
            .unwrap();
        assert_eq!(s, ProviderStatus::Active);
        assert_eq!(
            s.transition(ProviderEvent::Degrade).unwrap(),
            ProviderStatus::Degraded
        );
        assert!(ProviderStatus::Discovered
            .transition(ProviderEvent::Healthy)
            .is_err());
        assert!(ProviderStatus::Discovered
            .transition(ProviderEvent::Install)
            .is_err());
        assert!(ProviderStatus::Active
            .transition(ProviderEvent::Validate)
            .is_err());
        assert!(ProviderStatus::Active
            .transition(ProviderEvent::Enable)
            .is_err());
        assert!(ProviderStatus::Disabled
            .transition(ProviderEvent::Healthy)
            .is_err());
        assert_eq!(
            ProviderStatus::Disabled
                .transition(ProviderEvent::Enable)
                .unwrap(),
            ProviderStatus::Installed
        );
        for s in ProviderStatus::ALL {
            assert_eq!(
                s.transition(ProviderEvent::Disable).unwrap(),
                ProviderStatus::Disabled
            );
        }
        let err = ProviderStatus::Discovered
            .transition(ProviderEvent::Healthy)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "provider: cannot apply `Healthy` in state `discovered`"
        );
    }

    #[test]
    fn batch_machine() {
        use BatchEvent as E;
        let s = BatchStatus::Pending
            .transition(E::Preview)
            .and_then(|s| s.transition(E::Start))
            .and_then(|s| s.transition(E::Succeed))
            .and_then(|s| s.transition(E::StartRollback))
            .and_then(|s| s.transition(E::RollbackDone))
            .unwrap();
        assert_eq!(s, BatchStatus::RolledBack);
        assert!(BatchStatus::RolledBack.transition(E::Start).is_err());
        assert!(BatchStatus::RolledBack
            .transition(E::StartRollback)
            .is_err());
        assert!(BatchStatus::Pending.transition(E::Start).is_err());
        assert!(BatchStatus::Succeeded.transition(E::Start).is_err());
        assert_eq!(
            BatchStatus::Running.transition(E::Interrupt).unwrap(),
            BatchStatus::Interrupted
        );
        assert_eq!(
            BatchStatus::Interrupted.transition(E::Start).unwrap(),
            BatchStatus::Running
        );
        assert_eq!(
            BatchStatus::Interrupted
                .transition(E::StartRollback)
                .unwrap(),
            BatchStatus::RollbackRunning
        );
        assert!(BatchStatus::Succeeded.transition(E::Interrupt).is_err());
    }

    #[test]
    fn access_is_completion_gated() {
        assert_eq!(ModeProof::from_probe(true, false), ModeProof::Broken);
        assert_eq!(ModeProof::from_probe(false, true), ModeProof::Broken);
        assert_eq!(ModeProof::from_probe(true, true), ModeProof::Ready);
        use ModeProof::*;
        assert_eq!(AccessStatus::derive(Ready, Ready), AccessStatus::FullyReady);
        assert_eq!(
            AccessStatus::derive(Ready, Broken),
            AccessStatus::SubscriptionReady
        );
        assert_eq!(
            AccessStatus::derive(NotAttempted, Ready),
            AccessStatus::SelfServiceReady
        );
        assert_eq!(
            AccessStatus::derive(NotAttempted, NotAttempted),
            AccessStatus::NotConfigured
        );
        assert_eq!(
            AccessStatus::derive(Broken, NotAttempted),
            AccessStatus::Broken
        );
    }

    #[test]
    fn strings_round_trip() {
        for s in BatchStatus::ALL {
            assert_eq!(s.as_str().parse::<BatchStatus>().unwrap(), *s);
            assert_eq!(
                serde_json::to_string(s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        for s in ProviderStatus::ALL {
            assert_eq!(s.as_str().parse::<ProviderStatus>().unwrap(), *s);
        }
        let err = "bogus".parse::<AccessStatus>().unwrap_err();
        assert!(err.to_string().contains("fully_ready"));
    }
}
