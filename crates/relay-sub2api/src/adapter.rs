//! The `HostAdapter` trait: every host operation the product needs.

use relay_domain::Secret;

use crate::error::HostError;
use crate::types::*;

/// Blocking access to one sub2api host. Object safe, `Send + Sync`: use it as
/// `&dyn HostAdapter` from several threads.
///
/// Conventions: lists return every page; deletes of an object that is already
/// gone return `Err(HostError::NotFound)` (callers decide whether that counts as
/// done); a route the host build lacks is `Err(HostError::UnsupportedRoute)`.
/// Gateway calls report HTTP errors as data and fail only on transport errors.
pub trait HostAdapter: Send + Sync {
    // -- host facts ---------------------------------------------------------

    /// Host version via the admin API (`GET /api/v1/admin/system/version`); proves
    /// the admin credential works.
    fn version(&self) -> Result<String, HostError>;

    /// The admin compliance status of the acting admin
    /// (`GET /api/v1/admin/compliance`, which the compliance lock lets through).
    /// `Ok(None)` on builds without the compliance gate (the route is absent).
    /// Read-only: the manager never accepts the commitment itself.
    fn compliance(&self) -> Result<Option<ComplianceStatus>, HostError>;

    /// Unauthenticated public settings (`GET /api/v1/settings/public`).
    fn public_settings(&self) -> Result<PublicSettings, HostError>;

    /// Read-only capability probe (GET/list calls and unauthenticated gateway
    /// checks only; never a write). A locked admin API
    /// ([`HostError::ComplianceRequired`]) is an error, never "route present".
    fn capabilities(&self) -> Result<Capabilities, HostError>;

    /// Unauthenticated gateway check: `GET /v1/models` and
    /// `POST /v1/chat/completions` without a key. The gateway counts every keyless
    /// call as a failed key check of this client IP (and blocks the IP after too
    /// many): call it rarely.
    fn gateway_reachability(&self) -> Result<GatewayReachability, HostError>;

    /// [`Self::capabilities`] together with the [`Self::gateway_reachability`] it
    /// measured, so one host probe makes one set of keyless gateway calls.
    fn capabilities_with_gateway(&self) -> Result<(Capabilities, GatewayReachability), HostError> {
        let capabilities = self.capabilities()?;
        let gateway = self.gateway_reachability()?;
        Ok((capabilities, gateway))
    }

    // -- groups -------------------------------------------------------------

    /// All groups matching the filter (every page).
    fn list_groups(&self, filter: &GroupFilter) -> Result<Vec<Group>, HostError>;
    /// One group by host id (`GET /api/v1/admin/groups/:id`; a read, retried on
    /// transient failures).
    fn get_group(&self, id: ObjectId) -> Result<Group, HostError>;
    /// Creates a group (`POST /api/v1/admin/groups`; a write, never retried). A
    /// name in use is a [`HostError::Conflict`] with code `GROUP_EXISTS`.
    fn create_group(&self, group: &NewGroup) -> Result<Group, HostError>;
    /// Changes a group (`PUT /api/v1/admin/groups/:id`), sending only the fields
    /// set in `update`; returns the group as the host now has it.
    fn update_group(&self, id: ObjectId, update: &GroupUpdate) -> Result<Group, HostError>;
    /// Deletes a group (`DELETE /api/v1/admin/groups/:id`).
    fn delete_group(&self, id: ObjectId) -> Result<(), HostError>;
    /// The user API keys bound to a group, with their key values, read with admin
    /// rights (`GET /api/v1/admin/groups/:id/api-keys`, every page).
    fn list_group_keys(&self, group_id: ObjectId) -> Result<Vec<UserKey>, HostError>;

    // -- channels -----------------------------------------------------------

    /// All channels, optionally those whose name equals `name` exactly.
    fn list_channels(&self, name: Option<&str>) -> Result<Vec<Channel>, HostError>;
    /// One channel by host id (`GET /api/v1/admin/channels/:id`);
    /// [`HostError::UnsupportedRoute`] on builds without channels.
    fn get_channel(&self, id: ObjectId) -> Result<Channel, HostError>;
    /// Creates a channel with its model mapping and pricing
    /// (`POST /api/v1/admin/channels`).
    fn create_channel(&self, channel: &NewChannel) -> Result<Channel, HostError>;
    /// Changes a channel (`PUT /api/v1/admin/channels/:id`), sending only the
    /// fields set in `update`.
    fn update_channel(&self, id: ObjectId, update: &ChannelUpdate) -> Result<Channel, HostError>;
    /// Deletes a channel (`DELETE /api/v1/admin/channels/:id`).
    fn delete_channel(&self, id: ObjectId) -> Result<(), HostError>;

    // -- plans --------------------------------------------------------------

    /// All subscription plans (`GET /api/v1/admin/payment/plans`, a bare array on
    /// the host).
    fn list_plans(&self) -> Result<Vec<Plan>, HostError>;
    /// Creates a subscription plan (`POST /api/v1/admin/payment/plans`).
    fn create_plan(&self, plan: &NewPlan) -> Result<Plan, HostError>;
    /// Changes a plan (`PUT /api/v1/admin/payment/plans/:id`), sending only the
    /// fields set in `update`.
    fn update_plan(&self, id: ObjectId, update: &PlanUpdate) -> Result<Plan, HostError>;
    /// Deletes a plan (`DELETE /api/v1/admin/payment/plans/:id`). The host answers
    /// a missing plan with a bare `500`, so a gone plan is not `is_not_found()`.
    fn delete_plan(&self, id: ObjectId) -> Result<(), HostError>;

    // -- accounts -----------------------------------------------------------

    /// Creates an account; `idempotency_key` is sent as `Idempotency-Key`. A replayed
    /// answer (`X-Idempotency-Replayed`) is followed by a read of the account, so the
    /// result is current; a replay whose account is gone is a
    /// [`HostError::Conflict`] with code [`crate::REPLAYED_OBJECT_GONE`].
    fn create_account(
        &self,
        account: &NewAccount,
        idempotency_key: Option<&str>,
    ) -> Result<Account, HostError>;
    /// Creates several accounts in one call (`Idempotency-Key` as for
    /// [`HostAdapter::create_account`]); per-item failures are in the result, in
    /// request order. A build without the route, or with the 0.1.27 placeholder that
    /// creates nothing, is [`HostError::UnsupportedRoute`].
    fn create_accounts_batch(
        &self,
        accounts: &[NewAccount],
        idempotency_key: Option<&str>,
    ) -> Result<BatchCreateResult, HostError>;
    /// One account by host id (`GET /api/v1/admin/accounts/:id`); credentials come
    /// back redacted (the upstream key is never returned).
    fn get_account(&self, id: ObjectId) -> Result<Account, HostError>;
    /// All accounts matching the filter (every page).
    fn list_accounts(&self, filter: &AccountFilter) -> Result<Vec<Account>, HostError>;
    /// Changes an account (`PUT /api/v1/admin/accounts/:id`), sending only the
    /// fields set in `update`; an `extra` given is sent whole, not merged here.
    fn update_account(&self, id: ObjectId, update: &AccountUpdate) -> Result<Account, HostError>;
    /// Includes the account in scheduling or takes it out
    /// (`POST /api/v1/admin/accounts/:id/schedulable`; an account update cannot).
    fn set_account_schedulable(
        &self,
        id: ObjectId,
        schedulable: bool,
    ) -> Result<Account, HostError>;
    /// Clears the account's error state and puts it back into scheduling: the host
    /// takes an account it puts into `error` out of scheduling, and its clear-error
    /// leaves it there (`schedulable: false`), so the adapter re-enables it.
    fn clear_account_error(&self, id: ObjectId) -> Result<Account, HostError>;
    /// Clears every recoverable runtime state of the account in one call: error,
    /// rate limit, overload and temporary-unschedulable
    /// (`POST /api/v1/admin/accounts/:id/recover-state`). Builds without the route
    /// answer [`HostError::UnsupportedRoute`]: use [`Self::clear_account_error`] and
    /// [`Self::clear_account_temp_unschedulable`] there.
    fn recover_account_state(&self, id: ObjectId) -> Result<Account, HostError>;
    /// Clears the error state of several accounts in one call
    /// (`POST /api/v1/admin/accounts/batch-clear-error`); per-account failures are
    /// in the result. [`HostError::UnsupportedRoute`] on builds without the route.
    fn clear_account_errors(&self, ids: &[ObjectId]) -> Result<BatchClearResult, HostError>;
    /// Clears temporary-unschedulable state. Returns `false` when the host build
    /// has no such endpoint (nothing to clear there).
    fn clear_account_temp_unschedulable(&self, id: ObjectId) -> Result<bool, HostError>;
    /// Deletes an account (`DELETE /api/v1/admin/accounts/:id`).
    fn delete_account(&self, id: ObjectId) -> Result<(), HostError>;
    /// Runs the host's account test and reads its SSE stream to the end.
    /// `model_id` `None` lets the host pick its default test model.
    fn test_account(&self, id: ObjectId, model_id: Option<&str>) -> Result<ProbeResult, HostError>;
    /// Model ids the host will route to this account.
    fn account_models(&self, id: ObjectId) -> Result<Vec<String>, HostError>;

    /// The vendor's live model list as the host reads it with the account's stored
    /// key (`POST /api/v1/admin/accounts/:id/models/sync-upstream`, answer
    /// `{models: [...]}`, sorted and deduplicated by the host). Nothing on the host
    /// changes. A platform or account type the host cannot list is a `400`
    /// ([`HostError::Host`]); a vendor that failed is a `502`; builds without the
    /// route (before 0.1.17x) answer [`HostError::UnsupportedRoute`].
    fn sync_upstream_models(&self, id: ObjectId) -> Result<Vec<String>, HostError>;
    /// [`Self::sync_upstream_models`] with credentials instead of an account
    /// (`POST /api/v1/admin/accounts/models/sync-upstream-preview`, body `{platform,
    /// type, base_url, api_key}`): the host asks the vendor with the key and keeps
    /// nothing. Same answers and errors.
    fn sync_upstream_models_preview(
        &self,
        preview: &UpstreamModelsPreview,
    ) -> Result<Vec<String>, HostError>;
    /// The vendor balance of a pay-as-you-go CN-provider account, read by the host
    /// with the stored key (`GET /api/v1/admin/cn-providers/accounts/:id/balance`;
    /// Kimi and DeepSeek only: other platforms are a `400`). A vendor that refused
    /// is an `Ok` with [`HostBalance::error`]; builds without the route answer
    /// [`HostError::UnsupportedRoute`].
    fn account_balance(&self, id: ObjectId) -> Result<HostBalance, HostError>;

    // -- users --------------------------------------------------------------

    /// The user with exactly this e-mail (case-insensitive), if any.
    fn find_user_by_email(&self, email: &str) -> Result<Option<User>, HostError>;
    /// One user by host id (`GET /api/v1/admin/users/:id`).
    fn get_user(&self, id: ObjectId) -> Result<User, HostError>;
    /// Creates a user with admin rights (`POST /api/v1/admin/users`); the password
    /// is sent, never part of the returned user.
    fn create_user(&self, user: &NewUser) -> Result<User, HostError>;
    /// Changes a user (`PUT /api/v1/admin/users/:id`), sending only the fields set
    /// in `update`.
    fn update_user(&self, id: ObjectId, update: &UserUpdate) -> Result<User, HostError>;
    /// Changes a user's balance (kept in the host's balance history);
    /// `idempotency_key` is sent as `Idempotency-Key`. After a replayed answer the
    /// user is read again, so the balance returned is the current one.
    fn set_user_balance(
        &self,
        id: ObjectId,
        change: &BalanceChange,
        idempotency_key: Option<&str>,
    ) -> Result<User, HostError>;
    /// Deletes a user (`DELETE /api/v1/admin/users/:id`).
    fn delete_user(&self, id: ObjectId) -> Result<(), HostError>;
    /// A user's API keys, read with admin rights (every page).
    fn list_user_keys_admin(&self, user_id: ObjectId) -> Result<Vec<UserKey>, HostError>;
    /// Binds a user's key to another group with admin rights
    /// (`PUT /api/v1/admin/api-keys/:id`), keeping the key value. A subscription
    /// group needs the owner's active subscription (`400 SUBSCRIPTION_REQUIRED`).
    /// [`HostError::UnsupportedRoute`] on builds without the route.
    fn rebind_user_key(&self, key_id: ObjectId, group_id: ObjectId) -> Result<UserKey, HostError>;

    // -- user session -------------------------------------------------------

    /// Logs in as an end user. Blocked logins are an outcome, not an error.
    fn login_user(&self, email: &str, password: &Secret) -> Result<LoginOutcome, HostError>;
    /// Creates an API key with a user session; `idempotency_key` is sent as
    /// `Idempotency-Key` (the host's key space is shared by all users of the route).
    /// A replayed answer is followed by a read of the key
    /// ([`crate::REPLAYED_OBJECT_GONE`] when it is gone).
    fn create_user_key(
        &self,
        session: &UserSession,
        key: &NewUserKey,
        idempotency_key: Option<&str>,
    ) -> Result<UserKey, HostError>;
    /// The session user's API keys (every page).
    fn list_user_keys(&self, session: &UserSession) -> Result<Vec<UserKey>, HostError>;
    /// Deletes one of the session user's keys.
    fn delete_user_key(&self, session: &UserSession, key_id: ObjectId) -> Result<(), HostError>;

    // -- subscriptions ------------------------------------------------------

    /// Assigns a subscription (idempotent on newer hosts).
    fn assign_subscription(
        &self,
        assignment: &SubscriptionAssignment,
    ) -> Result<AssignOutcome, HostError>;
    /// Live subscriptions matching the filter (every page). Revoked ones are left
    /// out: the host soft-deletes a revoked subscription but still lists the row.
    fn list_subscriptions(
        &self,
        filter: &SubscriptionFilter,
    ) -> Result<Vec<Subscription>, HostError>;
    /// Revokes a subscription (the host soft-deletes it; a later assign creates a
    /// new one). Revoking one already revoked is `NotFound`.
    fn revoke_subscription(&self, id: ObjectId) -> Result<(), HostError>;

    // -- gateway ------------------------------------------------------------

    /// `GET /v1/models` with `Authorization: Bearer <key>`.
    fn gateway_models(&self, key: &Secret) -> Result<ModelsProbe, HostError>;
    /// `POST /v1/chat/completions` with `Authorization: Bearer <key>` and the
    /// prompt [`PROBE_PROMPT`].
    fn gateway_chat(
        &self,
        key: &Secret,
        request: &ChatProbeRequest,
    ) -> Result<CompletionProbe, HostError>;

    /// Both gateway calls: the model list, then a minimal completion.
    fn probe_gateway(
        &self,
        key: &Secret,
        request: &ChatProbeRequest,
    ) -> Result<GatewayProbe, HostError> {
        let models = self.gateway_models(key)?;
        let completion = self.gateway_chat(key, request)?;
        Ok(GatewayProbe { models, completion })
    }
}
