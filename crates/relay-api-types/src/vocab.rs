//! Vocabularies of the contract.
//!
//! Our own status vocabularies live once, in `relay-domain`, and are used here as they
//! are (re-exported at the crate root): the statuses [`BatchStatus`],
//! [`ProviderStatus`], [`AccessStatus`], [`HostStatus`], [`AccessMode`],
//! [`ImportMode`], [`Verdict`], [`KeyPlan`], [`ItemStatus`], [`ResourceAction`],
//! [`ResourceType`], [`ResourceState`], [`ProviderEvent`] and [`ModeProof`], and the
//! vocabularies of records and reports ([`HostAuthKind`], [`PackSourceKind`],
//! [`ProbeKind`], [`ProbeKeySource`], [`ReconcileTrigger`], [`ReconcileStatus`],
//! [`TestReason`], [`ResourceChange`], [`RetireReason`], [`Severity`],
//! [`SubscriberAction`], [`AccountOutcome`], [`CheckName`], [`CheckStatus`],
//! [`UpstreamClass`], [`HostObservationSource`], [`DifferenceKind`], [`RepairKind`],
//! and, under their contract names, [`AccessProofCompletionFailure`],
//! [`AccountOutOfServiceReason`] and [`PlatformChoicePlatform`]). [`Domain`] gives
//! each its JSON Schema (for the check of `docs/openapi.yaml`)
//! without touching that crate.
//!
//! The vocabularies declared below exist only in the contract (no other crate has
//! them as a type); the contract names them here so that a client needs no
//! dependency but this crate.

use relay_domain::{
    AccessMode, AccessStatus, BatchStatus, CompletionFailure, ConfirmationStatus, HostAnswerClass,
    HostStatus, ImportMode, ItemStatus, KeyPlan, ModeProof, OutOfServiceReason, Platform,
    ProviderEvent, ProviderStatus, ResourceAction, ResourceState, ResourceType, RetryScope,
    ReuseDecision, RunItemEventKind, RunItemState, RunState, Verdict,
};
pub use relay_domain::{
    AccountOutcome, AuditOriginKind, CheckName, CheckStatus, DifferenceKind, HostAuthKind,
    HostObservationSource, OperationKind, PackSourceKind, ProbeKeySource, ProbeKind,
    ReconcileStatus, ReconcileTrigger, RepairKind, ResourceChange, RetireReason, Severity,
    SubscriberAction, TestReason, UpstreamClass,
};
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use std::borrow::Cow;
use std::marker::PhantomData;

/// A `relay-domain` vocabulary: its schema name and every wire value.
pub trait DomainVocabulary {
    /// The schema name (`BatchStatus`).
    const NAME: &'static str;
    /// Every value, as sent on the wire.
    fn values() -> Vec<&'static str>;
    /// This value as sent on the wire.
    fn wire(self) -> &'static str;
}

macro_rules! string_enums {
    ($($t:ident $(as $name:literal)?),+ $(,)?) => {$(
        impl DomainVocabulary for $t {
            const NAME: &'static str = string_enums!(@name $t $($name)?);
            fn values() -> Vec<&'static str> {
                $t::ALL.iter().map(|v| v.as_str()).collect()
            }
            fn wire(self) -> &'static str {
                self.as_str()
            }
        }
    )+};
    (@name $t:ident) => { stringify!($t) };
    (@name $t:ident $name:literal) => { $name };
}

/// What a failed gateway completion of an access proof meant (the contract's name for
/// `relay_domain::CompletionFailure`).
pub type AccessProofCompletionFailure = CompletionFailure;

/// Why the host took a managed account out of service (the contract's name for
/// `relay_domain::OutOfServiceReason`).
pub type AccountOutOfServiceReason = OutOfServiceReason;

/// The host platform of a provider's accounts and group (the contract's name for
/// `relay_domain::Platform`).
pub type PlatformChoicePlatform = Platform;

string_enums!(
    AuditOriginKind,
    OperationKind,
    RunState,
    RunItemState,
    ConfirmationStatus,
    ReuseDecision,
    HostAnswerClass,
    RunItemEventKind,
    RetryScope,
    AccessMode,
    AccessStatus,
    BatchStatus,
    HostStatus,
    ImportMode,
    ItemStatus,
    KeyPlan,
    ProviderStatus,
    ResourceAction,
    ResourceState,
    ResourceType,
    Verdict,
    AccountOutcome,
    CheckName,
    CheckStatus,
    DifferenceKind,
    HostAuthKind,
    HostObservationSource,
    PackSourceKind,
    ProbeKeySource,
    ProbeKind,
    ReconcileStatus,
    ReconcileTrigger,
    RepairKind,
    ResourceChange,
    RetireReason,
    Severity,
    SubscriberAction,
    TestReason,
    UpstreamClass,
    CompletionFailure as "AccessProofCompletionFailure",
    OutOfServiceReason as "AccountOutOfServiceReason",
    Platform as "PlatformChoicePlatform",
);

impl DomainVocabulary for ProviderEvent {
    const NAME: &'static str = "ProviderEvent";
    fn wire(self) -> &'static str {
        // Exhaustive: a new event fails to compile here until it is listed.
        match self {
            ProviderEvent::Validate => "validate",
            ProviderEvent::Install => "install",
            ProviderEvent::Healthy => "healthy",
            ProviderEvent::Degrade => "degrade",
            ProviderEvent::Drift => "drift",
            ProviderEvent::Fail => "fail",
            ProviderEvent::Disable => "disable",
            ProviderEvent::Enable => "enable",
            ProviderEvent::RolledBack => "rolled_back",
        }
    }
    fn values() -> Vec<&'static str> {
        [
            ProviderEvent::Validate,
            ProviderEvent::Install,
            ProviderEvent::Healthy,
            ProviderEvent::Degrade,
            ProviderEvent::Drift,
            ProviderEvent::Fail,
            ProviderEvent::Disable,
            ProviderEvent::Enable,
            ProviderEvent::RolledBack,
        ]
        .into_iter()
        .map(Self::wire)
        .collect()
    }
}

impl DomainVocabulary for ModeProof {
    const NAME: &'static str = "ModeProof";
    fn wire(self) -> &'static str {
        match self {
            ModeProof::NotAttempted => "not_attempted",
            ModeProof::Ready => "ready",
            ModeProof::Broken => "broken",
        }
    }
    fn values() -> Vec<&'static str> {
        [ModeProof::NotAttempted, ModeProof::Ready, ModeProof::Broken]
            .into_iter()
            .map(Self::wire)
            .collect()
    }
}

/// The JSON Schema of a `relay-domain` vocabulary `T` (`#[schemars(with = "Domain<T>")]`
/// on a field of type `T`): a string with `T`'s values. Never constructed.
#[derive(Debug)]
pub struct Domain<T>(PhantomData<T>);

impl<T: DomainVocabulary> JsonSchema for Domain<T> {
    fn schema_name() -> Cow<'static, str> {
        Cow::Borrowed(T::NAME)
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "enum": T::values() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::DeserializeOwned;

    fn round_trips<T: DomainVocabulary + DeserializeOwned + serde::Serialize>() {
        for v in T::values() {
            let parsed: T = serde_json::from_value(serde_json::json!(v))
                .unwrap_or_else(|e| panic!("{}: `{v}` does not parse: {e}", T::NAME));
            assert_eq!(serde_json::to_value(parsed).unwrap(), serde_json::json!(v));
        }
    }

    #[test]
    fn listed_values_are_the_wire_values() {
        round_trips::<ProviderEvent>();
        round_trips::<ModeProof>();
        round_trips::<BatchStatus>();
        round_trips::<ResourceState>();
        round_trips::<TestReason>();
        round_trips::<ReconcileStatus>();
        round_trips::<AccessProofCompletionFailure>();
        round_trips::<AccountOutOfServiceReason>();
        round_trips::<PlatformChoicePlatform>();
        assert_eq!(
            AccessProofCompletionFailure::NAME,
            "AccessProofCompletionFailure"
        );
        assert_eq!(AccountOutOfServiceReason::NAME, "AccountOutOfServiceReason");
        assert_eq!(Severity::default(), Severity::Info);
        assert_eq!(BatchStatus::values().len(), BatchStatus::ALL.len());
    }
}

// ---- vocabularies of the contract only
contract_enum!(
    /// A host capability found by the probe. `admin_compliance` appears only as `false`,
    /// when the host's admin API was locked by its compliance gate at the last probe.
    Capability, "capability" {
        /// Groups.
        Groups => "groups",
        /// Channels.
        Channels => "channels",
        /// Subscription plans.
        Plans => "plans",
        /// Accounts.
        Accounts => "accounts",
        /// The account test.
        AccountTest => "account_test",
        /// An account's model list.
        AccountModels => "account_models",
        /// Subscriptions.
        Subscriptions => "subscriptions",
        /// Users.
        Users => "users",
        /// User keys.
        UserKeys => "user_keys",
        /// The gateway's `/v1/chat/completions`.
        ChatCompletions => "chat_completions",
        /// `false` when the host's compliance gate locked the admin API.
        AdminCompliance => "admin_compliance",
    }
);
