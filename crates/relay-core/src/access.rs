//! The access closure's contract: what a flow asks of it ([`AccessPlan`]), what it
//! answers ([`AccessReport`] and its parts) and the port through which the import
//! runs it ([`AccessCloser`]).
//!
//! The closure itself (managed subscribers, subscriptions, user keys, the
//! self-service check) lives in `relay-access`; provisioning runs it through the
//! port, so the two flow crates do not depend on each other. The application passes
//! `relay_access::AccessClosure`.

use relay_domain::{AccessStatus, Fingerprint, ModeProof, Secret};
use relay_sub2api::ObjectId;
use serde::{Deserialize, Serialize};

use crate::error::{AccessError, AccessProblem};
use crate::gateway_probe::{AccessProof, ProbeSettings};
use crate::ports::Ports;
use crate::repair::CapabilityRepair;

/// What to prove for one group.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessPlan {
    /// The provider's group.
    pub group_id: ObjectId,
    /// Run the subscription closure (the group must be subscription-type).
    pub subscription: Option<SubscriptionAccess>,
    /// Check self-service access with this operator-supplied user key.
    pub supplied_key: Option<Secret>,
    /// How to probe the gateway.
    pub probe: ProbeSettings,
}

/// Result of the access closure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccessReport {
    /// The host group the closure proves access to (the provider's group).
    pub group_id: ObjectId,
    /// Derived from both proofs ([`AccessStatus::derive`]).
    pub status: AccessStatus,
    /// Proof of subscription access.
    pub subscription: ModeProof,
    /// Proof of self-service access.
    pub self_service: ModeProof,
    /// Details of the subscription closure, when attempted.
    pub subscription_detail: Option<SubscriptionReport>,
    /// Details of the self-service check, when attempted.
    pub self_service_detail: Option<SelfServiceReport>,
}

impl AccessReport {
    /// The report of a closure that attempted nothing.
    pub fn not_configured(group_id: ObjectId) -> Self {
        AccessReport {
            group_id,
            status: AccessStatus::NotConfigured,
            subscription: ModeProof::NotAttempted,
            self_service: ModeProof::NotAttempted,
            subscription_detail: None,
            self_service_detail: None,
        }
    }

    /// The gateway proofs (subscription first).
    pub fn proofs(&self) -> Vec<&AccessProof> {
        let sub = self
            .subscription_detail
            .as_ref()
            .and_then(|d| d.proof.as_ref());
        let own = self
            .self_service_detail
            .as_ref()
            .and_then(|d| d.proof.as_ref());
        sub.into_iter().chain(own).collect()
    }

    /// Every capability repair applied.
    pub fn repairs(&self) -> Vec<&CapabilityRepair> {
        self.proofs().into_iter().flat_map(|p| &p.repairs).collect()
    }

    /// Every problem found.
    pub fn problems(&self) -> Vec<&AccessProblem> {
        let mut out: Vec<&AccessProblem> = self
            .subscription_detail
            .as_ref()
            .map(|d| d.problems())
            .unwrap_or_default();
        if let Some(d) = &self.self_service_detail {
            out.extend(&d.problems);
        }
        out
    }

    /// Every advisory warning of the subscription closure.
    pub fn warnings(&self) -> Vec<&str> {
        self.subscription_detail
            .iter()
            .flat_map(|d| &d.subscribers)
            .flat_map(|s| s.warnings.iter().map(String::as_str))
            .collect()
    }
}

/// Default e-mail of the managed probe subscriber.
pub const DEFAULT_PROBE_EMAIL: &str = "relay-probe@relay-manager.invalid";
/// Default balance (USD) a managed subscriber is topped up to when below it.
pub const DEFAULT_PROBE_BALANCE_USD: f64 = 1.0;

/// Who gets a subscription.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriberSelector {
    /// An existing host user (the manager cannot log in as it: no key is created).
    UserId(ObjectId),
    /// A managed user found or created by e-mail, with a generated password.
    Email(String),
}

impl SubscriberSelector {
    /// The selector as the closure compares it: e-mails trimmed and lower-cased.
    pub fn normalized(&self) -> SubscriberSelector {
        match self {
            SubscriberSelector::Email(e) => SubscriberSelector::Email(e.trim().to_lowercase()),
            other => other.clone(),
        }
    }

    /// How reports name the subscriber: its e-mail, or `user <id>`.
    pub fn label(&self) -> String {
        match self {
            SubscriberSelector::UserId(id) => format!("user {id}"),
            SubscriberSelector::Email(e) => e.clone(),
        }
    }
}

/// What the subscription closure does for one group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubscriptionAccess {
    /// Subscribers besides the probe subscriber.
    pub subscribers: Vec<SubscriberSelector>,
    /// E-mail of the managed probe subscriber (always included).
    pub probe_email: String,
    /// Validity of assigned subscriptions, in days.
    pub validity_days: u32,
    /// Subscribers whose subscriptions get their own validity (days) instead of
    /// `validity_days`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subscriber_validity_days: Vec<(SubscriberSelector, u32)>,
    /// Notes of assigned subscriptions; keep them constant so the host's
    /// idempotent assign recognises the manager's own subscriptions.
    pub notes: String,
    /// Name of the user keys the manager creates.
    pub key_name: String,
    /// Managed subscribers are topped up to this balance (USD) when below it.
    pub probe_balance_usd: f64,
}

impl SubscriptionAccess {
    /// Defaults: the default probe e-mail and balance, no other subscriber.
    pub fn new(validity_days: u32, notes: impl Into<String>, key_name: impl Into<String>) -> Self {
        SubscriptionAccess {
            subscribers: Vec::new(),
            probe_email: DEFAULT_PROBE_EMAIL.to_string(),
            validity_days,
            subscriber_validity_days: Vec::new(),
            notes: notes.into(),
            key_name: key_name.into(),
            probe_balance_usd: DEFAULT_PROBE_BALANCE_USD,
        }
    }
}

impl SubscriptionAccess {
    /// Validity (days) of the subscription of `selector`: its own when it has one,
    /// else `validity_days`.
    pub fn validity_for(&self, selector: &SubscriberSelector) -> u32 {
        let wanted = selector.normalized();
        self.subscriber_validity_days
            .iter()
            .find(|(s, _)| s.normalized() == wanted)
            .map_or(self.validity_days, |(_, days)| *days)
    }
}

/// What happened for one subscriber.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubscriberOutcome {
    /// E-mail, or `user <id>`.
    pub subscriber: String,
    /// Host user id, when known.
    pub user_id: Option<ObjectId>,
    /// The manager holds this user's password.
    pub managed: bool,
    /// True for the managed probe subscriber, whose key the gateway probe uses.
    pub probe: bool,
    /// The manager created the user now.
    pub user_created: bool,
    /// The subscription to the group.
    pub subscription_id: Option<ObjectId>,
    /// The manager assigned it now.
    pub subscription_created: bool,
    /// The user key bound to the group.
    pub key_id: Option<ObjectId>,
    /// Fingerprint of that user key (the key itself stays in the vault).
    pub key_fingerprint: Option<Fingerprint>,
    /// Mask of that user key, for display.
    pub key_mask: Option<String>,
    /// The manager created the key now.
    pub key_created: bool,
    /// Problems (each makes this subscriber unusable).
    pub problems: Vec<AccessProblem>,
    /// Advisory notes that do not make the subscriber unusable.
    pub warnings: Vec<String>,
}

impl SubscriberOutcome {
    /// The outcome of a subscriber nothing was done for yet.
    pub fn new(subscriber: String, probe: bool) -> Self {
        SubscriberOutcome {
            subscriber,
            user_id: None,
            managed: false,
            probe,
            user_created: false,
            subscription_id: None,
            subscription_created: false,
            key_id: None,
            key_fingerprint: None,
            key_mask: None,
            key_created: false,
            problems: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Records `err` as a problem of this subscriber, or returns it when it is
    /// fatal ([`AccessError::is_fatal`]: the journal or the vault failed).
    pub fn problem(&mut self, err: AccessError) -> Result<(), AccessError> {
        if err.is_fatal() {
            return Err(err);
        }
        self.problems.push(err.to_problem(self.subscriber.clone()));
        Ok(())
    }
}

/// Result of the subscription closure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubscriptionReport {
    /// The group the subscribers were subscribed to.
    pub group_id: ObjectId,
    /// Per subscriber (the probe subscriber first).
    pub subscribers: Vec<SubscriberOutcome>,
    /// The gateway proof with the probe subscriber's key.
    pub proof: Option<AccessProof>,
    /// Completion-gated verdict of the mode.
    pub status: ModeProof,
}

impl SubscriptionReport {
    /// Every problem of every subscriber.
    pub fn problems(&self) -> Vec<&AccessProblem> {
        self.subscribers.iter().flat_map(|s| &s.problems).collect()
    }
}

/// Result of the self-service check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SelfServiceReport {
    /// The group the supplied key must be bound to.
    pub group_id: ObjectId,
    /// Fingerprint of the supplied key.
    pub key_fingerprint: Fingerprint,
    /// Mask of the supplied key.
    pub key_mask: String,
    /// The key is bound to the group on the host.
    pub bound: bool,
    /// Host id of the key, when found.
    pub key_id: Option<ObjectId>,
    /// Owner of the key, when found.
    pub owner_user_id: Option<ObjectId>,
    /// The gateway proof (absent when the key is not bound or not active).
    pub proof: Option<AccessProof>,
    /// Completion-gated verdict of the mode.
    pub status: ModeProof,
    /// Why the mode is broken, when it is.
    pub problems: Vec<AccessProblem>,
}

/// The logical key of a subscription journal entry.
pub fn subscription_logical_key(user_id: ObjectId, group_id: ObjectId) -> String {
    format!("subscription:{user_id}:{group_id}")
}

/// Runs the access closure for a plan: the port through which an import closes
/// access without depending on the crate that implements it.
pub trait AccessCloser: Send + Sync {
    /// Runs the requested modes against `plan.group_id` and derives the access
    /// status. Errors only when the journal or the vault fails.
    fn close(&self, ports: &Ports<'_>, plan: &AccessPlan) -> Result<AccessReport, AccessError>;
}
