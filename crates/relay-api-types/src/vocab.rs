//! Vocabularies of the contract.
//!
//! Our own status vocabularies live once, in `relay-domain`, and are used here as they
//! are (re-exported at the crate root): [`BatchStatus`], [`ProviderStatus`],
//! [`AccessStatus`], [`HostStatus`], [`AccessMode`], [`ImportMode`], [`Verdict`],
//! [`KeyPlan`], [`ItemStatus`], [`ResourceAction`], [`ResourceType`],
//! [`ResourceState`], [`ProviderEvent`] and [`ModeProof`]. [`Domain`] gives each its
//! JSON Schema (for the check of `docs/openapi.yaml`) without touching that crate.
//!
//! The vocabularies below belong to reports and records of the other layers (the
//! store, the flow crates); the contract names them here so that a client needs no
//! dependency but this crate.

use relay_domain::{
    AccessMode, AccessStatus, BatchStatus, HostStatus, ImportMode, ItemStatus, KeyPlan, ModeProof,
    ProviderEvent, ProviderStatus, ResourceAction, ResourceState, ResourceType, Verdict,
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
    ($($t:ident),+) => {$(
        impl DomainVocabulary for $t {
            const NAME: &'static str = stringify!($t);
            fn values() -> Vec<&'static str> {
                $t::ALL.iter().map(|v| v.as_str()).collect()
            }
            fn wire(self) -> &'static str {
                self.as_str()
            }
        }
    )+};
}

string_enums!(
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
    Verdict
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
        assert_eq!(BatchStatus::values().len(), BatchStatus::ALL.len());
    }
}

// ---- contract vocabularies (generated list; reviewed by hand)
contract_enum!(
    /// How the manager authenticates to the host's admin API.
    HostAuthKind, "host auth kind" {
        /// An admin API key (`x-api-key`).
        ApiKey => "api_key",
        /// An admin e-mail and password exchanged for a bearer token.
        Login => "login",
    }
);

contract_enum!(
    /// What a pack was installed from.
    PackSourceKind, "pack source kind" {
        /// A directory.
        Dir => "dir",
        /// A zip archive (uploaded or in the packs directory).
        Zip => "zip",
    }
);

contract_enum!(
    /// What a probe exercised (the store's `probe kind` strings).
    ProbeKind, "probe kind" {
        /// The host's account test (SSE) with the smoke model.
        AccountTest => "account_test",
        /// The host's model list of an account.
        AccountModels => "account_models",
        /// `GET /v1/models` through the gateway with a user key.
        GatewayModels => "gateway_models",
        /// `POST /v1/chat/completions` through the gateway with a user key.
        GatewayChat => "gateway_chat",
        /// Unauthenticated gateway reachability (`401 API_KEY_REQUIRED`).
        Reachability => "reachability",
        /// A direct call to the vendor with the operator's consent (`diagnose`).
        UpstreamDirect => "upstream_direct",
    }
);

contract_enum!(
    /// Where the key of an access probe came from.
    ProbeKeySource, "probe key source" {
        /// The managed probe subscriber's key.
        ManagedSubscription => "managed_subscription",
        /// A key the operator supplied.
        SuppliedKey => "supplied_key",
    }
);

contract_enum!(
    /// `manual`: `POST /api/providers/{provider}/reconcile`; `scheduled`: the background scheduler (`RELAY_RECONCILE_INTERVAL`).
    ReconcileTrigger, "reconcile trigger" {
        /// Asked for by the operator.
        Manual => "manual",
        /// Started by the scheduler.
        Scheduled => "scheduled",
    }
);

contract_enum!(
    /// `running`; `completed` (finished with a verdict); `failed` (could not finish: host unreachable, internal error); `interrupted` (found running when the server started).
    ReconcileStatus, "reconcile status" {
        /// Running.
        Running => "running",
        /// Finished with a verdict.
        Completed => "completed",
        /// Could not finish.
        Failed => "failed",
        /// Found running when the server started.
        Interrupted => "interrupted",
    }
);

contract_enum!(
    /// Why an account test got its verdict.
    TestReason, "test reason" {
        /// The test completed successfully.
        Passed => "passed",
        /// An upstream 403 right after creation while the account's models include the smoke model: the host's asynchronous capability probe had not finished (§7.1).
        FirstTestForbiddenRace => "first_test_forbidden_race",
        /// An upstream 404 from the test; advisory only if the gateway probe passes (§7.1).
        NotFoundPendingGateway => "not_found_pending_gateway",
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

contract_enum!(
    /// What happened to a host resource in this run.
    ResourceChange, "resource change" {
        /// Created by this batch.
        Created => "created",
        /// Found on the host while recovering an intent, and adopted.
        Adopted => "adopted",
        /// An existing object used as is (rollback leaves objects the manager did not create).
        Reused => "reused",
        /// An existing object changed to match the pack.
        Updated => "updated",
    }
);

contract_enum!(
    /// Why a stale account was retired.
    RetireReason, "retire reason" {
        /// Another live managed account has the same key.
        Duplicate => "duplicate",
        /// `replace_existing`: its key is not part of this import.
        Replaced => "replaced",
    }
);

contract_enum!(
    /// Severity of a host overlay note.
    Severity, "severity" {
        /// Informational (default).
        Info => "info",
        /// Something the operator should act on.
        Warning => "warning",
    }
);

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
