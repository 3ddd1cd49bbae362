//! Access closure outside an import, and provider queries (SPEC §4.5, §4.8).

use crate::app::App;
use crate::context::ProviderContext;
use crate::error::{AppError, AppResult};
use crate::packs::ProviderSummary;
use crate::ports::{OsRandomness, StoreJournal, StoreProbeObserver, StoreVault};
use relay_core::{
    AccessPlan, AccessReport, Ports, ProbeSettings, SubscriberSelector, SubscriptionAccess,
    SYSTEM_CLOCK,
};
use relay_domain::{AccessMode, AccessStatus, Fingerprint, ResourceType, Secret, SubscriberAction};
use relay_store::{
    AccessClosureRecord, AccessClosureRepository, InstallRepository, ProviderInstallRecord,
    ResourceRecord, ResourceRepository, SecretRepository, SecretSlot,
};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// An access request outside an import.
#[derive(Debug, Clone)]
pub struct AccessInput {
    /// Host id or name.
    pub host: String,
    /// Pack, when ambiguous.
    pub pack_id: Option<String>,
    /// The mode to preview (assign-subscriptions is always subscription).
    pub access_mode: AccessMode,
    /// Subscribers besides the managed probe subscriber.
    pub subscribers: Vec<SubscriberSelector>,
    /// Subscription validity in days (default: the plan template's).
    pub validity_days: Option<u32>,
    /// Subscribers (each also in `subscribers`) whose subscriptions get their own
    /// validity in days instead of `validity_days`.
    pub subscriber_validity_days: Vec<(SubscriberSelector, u32)>,
    /// A user key for the self-service proof.
    pub probe_key: Option<Secret>,
}

/// The latest access proofs of a provider on a host.
#[derive(Debug, Clone, Serialize)]
pub struct AccessStatusView {
    /// Host the proofs were taken on (its id).
    pub host_id: String,
    /// Pack of the provider.
    pub pack_id: String,
    /// Provider the proofs are for.
    pub provider_id: String,
    /// The install's stored access status (`not_configured` when not installed).
    pub access_status: AccessStatus,
    /// Latest subscription proof.
    pub subscription: Option<AccessClosureRecord>,
    /// Latest self-service proof.
    pub self_service: Option<AccessClosureRecord>,
}

/// A provider's status on one host or every host.
#[derive(Debug, Clone, Serialize)]
pub struct ProviderStatusView {
    /// The provider as its pack declares it, with its installs.
    pub provider: ProviderSummary,
    /// Per-host state, access proofs and resource counts.
    pub hosts: Vec<ProviderHostStatus>,
}

/// A provider's state on one host.
#[derive(Debug, Clone, Serialize)]
pub struct ProviderHostStatus {
    /// The install record (status, access status, last batch, …).
    pub install: ProviderInstallRecord,
    /// Latest subscription proof.
    pub subscription: Option<AccessClosureRecord>,
    /// Latest self-service proof.
    pub self_service: Option<AccessClosureRecord>,
    /// Recorded resources by type and state, e.g. `{"account": {"created": 3}}`.
    pub resources: BTreeMap<String, BTreeMap<String, usize>>,
}

fn live_group(resources: &[ResourceRecord], name: &str) -> Option<i64> {
    resources
        .iter()
        .rev()
        .find(|r| {
            r.resource_type == ResourceType::Group
                && r.logical_key == name
                && (r.state.is_owned_live() || r.state == relay_domain::ResourceState::Reused)
        })
        .and_then(|r| r.host_resource_id)
}

impl App {
    /// The latest access proofs and derived status of a provider on a host.
    pub fn access_status(
        &self,
        provider_id: &str,
        host: &str,
        pack_id: Option<&str>,
    ) -> AppResult<AccessStatusView> {
        let host = self.resolve_host(host)?;
        let (provider, _) = self.resolve_provider(provider_id, pack_id)?;
        let closures = self.store().closures();
        let install =
            self.store()
                .installs()
                .find(&host.id, &provider.pack_id, &provider.provider_id)?;
        Ok(AccessStatusView {
            host_id: host.id.to_string(),
            pack_id: provider.pack_id.to_string(),
            provider_id: provider.provider_id.to_string(),
            access_status: install
                .map(|i| i.access_status)
                .unwrap_or(AccessStatus::NotConfigured),
            subscription: closures.latest(
                &host.id,
                &provider.pack_id,
                &provider.provider_id,
                Some(AccessMode::Subscription),
            )?,
            self_service: closures.latest(
                &host.id,
                &provider.pack_id,
                &provider.provider_id,
                Some(AccessMode::SelfService),
            )?,
        })
    }

    fn group_of(&self, ctx: &ProviderContext, mode: AccessMode) -> AppResult<Option<i64>> {
        let resources = self.store().resources().list_for_provider(
            &ctx.host.id,
            &ctx.provider.pack_id,
            &ctx.provider.provider_id,
        )?;
        Ok(live_group(&resources, &ctx.target.resource_name(mode)))
    }

    /// Assigns subscriptions to the provider's subscription group (managed probe
    /// subscriber included) and proves access with the probe subscriber's key.
    pub fn assign_subscriptions(
        self: &Arc<Self>,
        provider_id: &str,
        input: &AccessInput,
    ) -> AppResult<AccessReport> {
        let ctx = self.provider_context(provider_id, &input.host, input.pack_id.as_deref())?;
        let _lock = self.lock_provider(&ctx)?;
        let group_id = self.group_of(&ctx, AccessMode::Subscription)?.ok_or_else(|| {
            AppError::Conflict {
                code: "no_subscription_group",
                message: format!(
                    "provider {provider_id} has no managed subscription group on host {}: import it in subscription mode first",
                    ctx.host.name
                ),
            }
        })?;
        let mut access = SubscriptionAccess::new(
            input
                .validity_days
                .unwrap_or_else(|| ctx.target.plan_validity_days()),
            ctx.target.notes(),
            ctx.target.key_name(AccessMode::Subscription),
        );
        access.subscribers = input.subscribers.clone();
        access.subscriber_validity_days = input.subscriber_validity_days.clone();
        let report = self.close(&ctx, group_id, Some(access), None)?;
        Ok(report)
    }

    /// Runs an access closure on an existing group and records the proofs.
    pub(crate) fn close(
        &self,
        ctx: &ProviderContext,
        group_id: i64,
        subscription: Option<SubscriptionAccess>,
        supplied_key: Option<Secret>,
    ) -> AppResult<AccessReport> {
        let started_at = relay_store::Timestamp::now();
        let closure_id = format!("acl_{}", crate::audit::random_hex(8));
        let origin = crate::audit::origin(
            relay_domain::AuditOriginKind::AccessClosure,
            Some(&closure_id),
        );
        let adapter = ctx.adapter_as(origin.clone());
        let asked = serde_json::json!({
            "group_id": group_id,
            "subscribers": subscription.as_ref().map(|s| s.subscribers.len()),
            "validity_days": subscription.as_ref().map(|s| s.validity_days),
            "supplied_key": supplied_key.is_some(),
        });
        let scope = ctx.scope(None);
        let journal = StoreJournal::new(self.store().clone(), scope.clone());
        let vault = StoreVault::new(self.store().clone(), ctx.host.id.clone());
        let observer = StoreProbeObserver::new(self.store().clone(), scope, None);
        let ports = Ports {
            adapter: adapter.as_ref(),
            journal: &journal,
            vault: &vault,
            random: &OsRandomness,
            observer: &observer,
            clock: &SYSTEM_CLOCK,
        };
        let plan = AccessPlan {
            group_id,
            subscription,
            supplied_key,
            probe: ProbeSettings {
                warmup_window: self.config().warmup_window,
                ..ProbeSettings::new(&ctx.target.provider.smoke_test_model)
            },
        };
        let result = relay_access::close_access(&ports, &plan)
            .map_err(|e| AppError::Internal(format!("access closure failed: {e}")))
            .and_then(|report| {
                self.record_access(ctx, None, &report)?;
                Ok(report)
            });
        self.record_operation(
            ctx,
            crate::audit::OperationStart {
                kind: relay_store::OperationKind::AccessClosure,
                id: closure_id,
                request_id: origin.request_id,
                asked,
                started_at,
            },
            result.as_ref().map(|r| {
                let mut r = r.clone();
                r.redact(&self.redactor());
                serde_json::to_value(&r).unwrap_or(serde_json::Value::Null)
            }),
        );
        result
    }

    /// What an access closure would do, read-only: the group, each subscriber
    /// (existing host user, managed, or to be created), login constraints of the
    /// host, and whether a supplied key is bound to the group.
    pub fn access_preview(&self, provider_id: &str, input: &AccessInput) -> AppResult<Value> {
        let ctx = self.provider_context(provider_id, &input.host, input.pack_id.as_deref())?;
        let adapter = ctx.adapter.as_ref();
        let group_name = ctx.target.resource_name(input.access_mode);
        let group_id = self.group_of(&ctx, input.access_mode)?;
        let mut warnings = Vec::new();
        let mut problems = Vec::new();
        if group_id.is_none() {
            problems.push(format!(
                "no managed group `{group_name}` on this host yet: import the provider in {} mode first",
                input.access_mode
            ));
        }
        let settings = adapter.public_settings().ok();
        let mut subscribers = Vec::new();
        if input.access_mode == AccessMode::Subscription {
            if let Some(s) = &settings {
                if s.backend_mode_enabled {
                    problems.push("the host is in backend mode: managed subscribers cannot log in to create their probe key".into());
                }
                if s.turnstile_enabled {
                    problems.push("the host requires Turnstile on login: managed subscribers cannot log in to create their probe key".into());
                }
                if let Some(provider) = &s.login_captcha {
                    problems.push(format!("the host requires a {provider} captcha on login: managed subscribers cannot log in to create their probe key"));
                }
            }
            let vault = StoreVault::new(self.store().clone(), ctx.host.id.clone());
            let mut emails = vec![relay_core::DEFAULT_PROBE_EMAIL.to_string()];
            let mut ids = Vec::new();
            for s in &input.subscribers {
                match s {
                    SubscriberSelector::Email(e) => emails.push(e.trim().to_lowercase()),
                    SubscriberSelector::UserId(id) => ids.push(*id),
                }
            }
            for email in emails {
                let on_host = adapter.find_user_by_email(&email)?;
                let managed = relay_core::SubscriberVault::subscriber(&vault, &email)
                    .map_err(|e| AppError::Internal(e.to_string()))?
                    .is_some();
                let action = match (&on_host, managed) {
                    (None, _) => SubscriberAction::Create,
                    (Some(_), true) => SubscriberAction::Reuse,
                    (Some(_), false) => SubscriberAction::Conflict,
                };
                if action == SubscriberAction::Conflict {
                    warnings.push(format!("{email} exists on the host but its password is not managed here: it gets a subscription but no probe key"));
                }
                subscribers.push(json!({"email": email, "host_user_id": on_host.map(|u| u.id), "managed": managed, "action": action}));
            }
            for id in ids {
                match adapter.get_user(id) {
                    Ok(u) => subscribers
                        .push(json!({"user_id": id, "email": u.email, "action": "assign"})),
                    Err(e) if e.is_not_found() => {
                        problems.push(format!("host user {id} does not exist"))
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        let mut key = Value::Null;
        if let Some(k) = &input.probe_key {
            let fp = Fingerprint::of(k.expose());
            let bound = match group_id {
                Some(g) => adapter
                    .list_group_keys(g)?
                    .iter()
                    .any(|uk| Fingerprint::of(uk.key.expose()) == fp),
                None => false,
            };
            if !bound {
                problems.push("the supplied key is not bound to the provider's group: bind it (or create it) in that group".into());
            }
            key = json!({"mask": relay_domain::mask(k.expose()), "fingerprint": fp, "bound_to_group": bound});
        } else if input.access_mode == AccessMode::SelfService {
            let stored = self.store().secrets().info(&SecretSlot::probe_key(
                &ctx.host.id,
                &ctx.provider.pack_id,
                &ctx.provider.provider_id,
            ))?;
            match stored {
                Some(info) => {
                    key =
                        json!({"mask": info.mask, "fingerprint": info.fingerprint, "stored": true})
                }
                None => problems.push(
                    "self_service needs a probe key: supply a user key bound to the group".into(),
                ),
            }
        }
        Ok(json!({
            "host_id": ctx.host.id,
            "pack_id": ctx.provider.pack_id,
            "provider_id": ctx.provider.provider_id,
            "access_mode": input.access_mode,
            "group": {"name": group_name, "host_id": group_id},
            "subscribers": subscribers,
            "probe_key": key,
            "smoke_test_model": ctx.target.provider.smoke_test_model,
            "warnings": warnings,
            "problems": problems,
        }))
    }

    /// A provider's status on one host (or every host it is installed on).
    pub fn provider_status(
        &self,
        provider_id: &str,
        host: Option<&str>,
        pack_id: Option<&str>,
    ) -> AppResult<ProviderStatusView> {
        let host_id = match host {
            Some(h) => Some(self.resolve_host(h)?.id),
            None => None,
        };
        let (record, _) = self.resolve_provider(provider_id, pack_id)?;
        let summary = self
            .list_providers(
                Some(&record.pack_id.0),
                host_id.as_ref().map(|h| h.as_str()),
            )?
            .into_iter()
            .find(|p| p.provider_id == record.provider_id)
            .ok_or_else(|| AppError::NotFound {
                kind: "provider",
                id: provider_id.to_string(),
            })?;
        let mut hosts = Vec::new();
        for install in &summary.installs {
            let closures = self.store().closures();
            let latest = |mode| {
                closures.latest(
                    &install.host_id,
                    &install.pack_id,
                    &install.provider_id,
                    Some(mode),
                )
            };
            let mut counts: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
            for r in self.store().resources().list_for_provider(
                &install.host_id,
                &install.pack_id,
                &install.provider_id,
            )? {
                *counts
                    .entry(r.resource_type.to_string())
                    .or_default()
                    .entry(r.state.to_string())
                    .or_default() += 1;
            }
            hosts.push(ProviderHostStatus {
                install: install.clone(),
                subscription: latest(AccessMode::Subscription)?,
                self_service: latest(AccessMode::SelfService)?,
                resources: counts,
            });
        }
        Ok(ProviderStatusView {
            provider: summary,
            hosts,
        })
    }

    /// Every resource recorded for a provider on a host.
    pub fn provider_resources(
        &self,
        provider_id: &str,
        host: &str,
        pack_id: Option<&str>,
    ) -> AppResult<Vec<ResourceRecord>> {
        if host.trim().is_empty() {
            return Err(AppError::invalid("host_id", "is required: name the host"));
        }
        let host = self.resolve_host(host)?;
        let (provider, _) = self.resolve_provider(provider_id, pack_id)?;
        Ok(self.store().resources().list_for_provider(
            &host.id,
            &provider.pack_id,
            &provider.provider_id,
        )?)
    }
}

impl App {
    /// Disables a provider on a host (no reconcile until enabled) or enables it again.
    pub fn set_provider_enabled(
        self: &Arc<Self>,
        provider_id: &str,
        host: &str,
        pack_id: Option<&str>,
        enabled: bool,
    ) -> AppResult<ProviderInstallRecord> {
        let ctx = self.provider_context(provider_id, host, pack_id)?;
        let _lock = self.lock_provider(&ctx)?;
        let (host, provider) = (&ctx.host, &ctx.provider);
        let installs = self.store().installs();
        let current = installs.ensure(&host.id, &provider.pack_id, &provider.provider_id)?;
        let event = if enabled {
            if current.status != relay_domain::ProviderStatus::Disabled {
                return Ok(current);
            }
            relay_domain::ProviderEvent::Enable
        } else {
            if current.status == relay_domain::ProviderStatus::Disabled {
                return Ok(current);
            }
            relay_domain::ProviderEvent::Disable
        };
        let message = if enabled {
            "enabled by the operator"
        } else {
            "disabled by the operator"
        };
        Ok(installs.apply_event(
            &host.id,
            &provider.pack_id,
            &provider.provider_id,
            event,
            Some(message),
        )?)
    }
}
