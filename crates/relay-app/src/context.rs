//! What every provider use-case starts from: the provider's context on a host
//! (host, provider, desired state, adapter), the per-provider lock, and the moves
//! of the provider's status.

use crate::app::App;
use crate::audit::{AuditRecorder, AuditScope, AuditedAdapter};
use crate::error::{AppError, AppResult};
use crate::leases::{provider_lease, HeldElsewhere, LeaseKeeper};
use crate::metrics::{MeteredAdapter, Metrics};
use crate::ports::StoreJournal;
use relay_core::{Journal as _, JournalScope, ProviderTarget};
use relay_domain::{
    AuditOrigin, AuditOriginKind, BatchId, HostId, PackId, ProviderEvent, ProviderId, TestCalls,
};
use relay_store::{HostRecord, HostRepository, InstallRepository, ProviderRecord};
use relay_sub2api::{Capabilities, HostAdapter};
use std::sync::Arc;

/// Everything a use-case needs about one provider on one host.
pub(crate) struct ProviderContext {
    pub host: HostRecord,
    pub provider: ProviderRecord,
    pub target: ProviderTarget,
    /// The host adapter: it counts this use-case's calls in `calls` and records every
    /// mutation in the audit trail with the origin set by [`ProviderContext::audit_as`]
    /// (an operator request until then).
    pub adapter: Arc<dyn HostAdapter>,
    audited: Arc<AuditedAdapter>,
    /// The host calls of this use-case alone (the test calls are read from it).
    pub calls: Arc<Metrics>,
}

impl ProviderContext {
    /// Records the mutations made through [`ProviderContext::adapter`] from now on
    /// as made by `origin` (an import batch, a run, a reconcile run, …).
    pub fn audit_as(&mut self, origin: AuditOrigin) {
        let audited = Arc::new(self.audited.with_origin(origin));
        self.adapter = audited.clone();
        self.audited = audited;
    }

    /// The adapter recording its mutations as made by `origin`, for a use-case
    /// holding the context by reference.
    pub fn adapter_as(&self, origin: AuditOrigin) -> Arc<dyn HostAdapter> {
        Arc::new(self.audited.with_origin(origin))
    }

    /// The test calls this use-case spent so far: the host calls that test (account
    /// tests, gateway probes, vendor reads through the host) and the manager's own
    /// vendor reads (recorded in `calls` as `vendor_balance` and `vendor_models`).
    pub fn test_calls(&self) -> TestCalls {
        let n = |op: &str| self.calls.host_call_count(op);
        let both = n("probe_gateway");
        TestCalls::new(
            n("test_account"),
            n("gateway_models") + both,
            n("gateway_chat") + both,
            n("sync_upstream_models")
                + n("account_balance")
                + n("vendor_balance")
                + n("vendor_models"),
        )
    }

    pub fn scope(&self, batch_id: Option<BatchId>) -> JournalScope {
        JournalScope {
            host_id: self.host.id.clone(),
            pack_id: self.provider.pack_id.clone(),
            provider_id: self.provider.provider_id.clone(),
            batch_id,
        }
    }
}

/// Capabilities from a stored capability map.
pub(crate) fn capabilities_of(map: &std::collections::BTreeMap<String, bool>) -> Capabilities {
    let f = |k: &str| map.get(k).copied().unwrap_or(false);
    Capabilities {
        groups: f("groups"),
        channels: f("channels"),
        plans: f("plans"),
        accounts: f("accounts"),
        account_test: f("account_test"),
        account_models: f("account_models"),
        subscriptions: f("subscriptions"),
        users: f("users"),
        user_keys: f("user_keys"),
        chat_completions: f("chat_completions"),
    }
}

/// The per-provider lock: this process's mark and the database lease every server
/// on the database respects. Released when dropped.
pub(crate) struct ProviderLock {
    app: Arc<App>,
    key: (HostId, PackId, ProviderId),
    /// Released (dropped) before the process mark, so whoever takes the mark next
    /// finds the lease free.
    lease: Option<Arc<LeaseKeeper>>,
}

impl ProviderLock {
    /// The fence of the work done under this lock (see [`LeaseKeeper::ensure`]).
    pub(crate) fn fence(&self) -> Option<Arc<LeaseKeeper>> {
        self.lease.clone()
    }
}

impl Drop for ProviderLock {
    fn drop(&mut self) {
        drop(self.lease.take());
        self.app.unlock_provider(&self.key);
    }
}

impl App {
    /// The provider's accounts on the host the manager runs: created, adopted or
    /// reused, as the journal records them.
    pub(crate) fn live_accounts(
        &self,
        ctx: &ProviderContext,
    ) -> AppResult<Vec<relay_store::ResourceRecord>> {
        use relay_store::ResourceRepository;
        Ok(self
            .store()
            .resources()
            .list_for_provider(
                &ctx.host.id,
                &ctx.provider.pack_id,
                &ctx.provider.provider_id,
            )?
            .into_iter()
            .filter(|r| {
                r.resource_type == relay_domain::ResourceType::Account
                    && (r.state.is_owned_live() || r.state == relay_domain::ResourceState::Reused)
            })
            .collect())
    }

    /// Takes the per-provider lock: one import, resume, rollback or reconcile of a
    /// provider on a host at a time, in this process and on every server sharing
    /// the database (a lease renewed while the work goes on).
    pub(crate) fn lock_provider(
        self: &Arc<Self>,
        ctx: &ProviderContext,
    ) -> AppResult<ProviderLock> {
        let key = (
            ctx.host.id.clone(),
            ctx.provider.pack_id.clone(),
            ctx.provider.provider_id.clone(),
        );
        let busy = |detail: String| {
            AppError::Conflict {
            code: "provider_busy",
            message: format!(
                "an import, rollback or reconcile of {} on host {} is running{detail}: wait for it to finish",
                key.2, ctx.host.name
            ),
        }
        };
        if !self.try_lock_provider(&key) {
            return Err(busy(String::new()));
        }
        let name = provider_lease(key.0.as_str(), &key.1 .0, &key.2 .0);
        let config = self.config();
        let taken = LeaseKeeper::acquire(self.store(), &name, &config.worker_id, config.lease_ttl);
        match taken {
            Ok(Ok(lease)) => Ok(ProviderLock {
                app: self.clone(),
                key,
                lease: Some(lease),
            }),
            Ok(Err(HeldElsewhere(holder))) => {
                self.unlock_provider(&key);
                Err(busy(format!(" on server {}", holder.owner)))
            }
            Err(e) => {
                self.unlock_provider(&key);
                Err(e)
            }
        }
    }

    /// Resolves host, provider, manifest, capabilities and adapter.
    pub(crate) fn provider_context(
        &self,
        provider_id: &str,
        host: &str,
        pack_id: Option<&str>,
    ) -> AppResult<ProviderContext> {
        if host.trim().is_empty() {
            return Err(AppError::invalid(
                "host_id",
                "is required: name the host (id or name) to act on",
            ));
        }
        let host = self.resolve_host(host)?;
        let (provider, manifest) = self.resolve_provider(provider_id, pack_id)?;
        let snapshot = self.store().hosts().latest_snapshot(&host.id)?;
        let caps = snapshot
            .as_ref()
            .map(|s| capabilities_of(&s.capabilities))
            .unwrap_or_default();
        // Every call of the use-case is counted on its own registry, once, here; the
        // audit decorator sits above it, so its reads of an object's before count too.
        let calls = Arc::new(Metrics::default());
        let counted: Arc<dyn HostAdapter> =
            Arc::new(MeteredAdapter::new(self.adapter(&host)?, calls.clone()));
        let audited = Arc::new(AuditedAdapter::new(
            counted,
            AuditRecorder::new(self.store().clone(), self.metrics().clone()),
            AuditScope {
                host_id: host.id.clone(),
                pack_id: Some(provider.pack_id.clone()),
                provider_id: Some(provider.provider_id.clone()),
                origin: crate::audit::origin(AuditOriginKind::OperatorRequest, None),
            },
        ));
        // The provider's journal on this host decides the platform of an existing
        // install (`relay_provision::choose_platform`); previews settle it against the
        // host's groups too.
        let recorded = StoreJournal::new(
            self.store().clone(),
            JournalScope {
                host_id: host.id.clone(),
                pack_id: provider.pack_id.clone(),
                provider_id: provider.provider_id.clone(),
                batch_id: None,
            },
        )
        .list_provider()
        .map_err(|e| AppError::Internal(format!("reading the provider's journal: {e}")))?;
        Ok(ProviderContext {
            target: ProviderTarget::new(
                provider.pack_id.0.clone(),
                manifest,
                host.version.clone(),
                caps,
                &recorded,
            ),
            host,
            provider,
            adapter: audited.clone(),
            audited,
            calls,
        })
    }

    /// Applies a provider event, logging (not failing) a refused move.
    pub(crate) fn apply_provider_event(
        &self,
        host: &HostId,
        pack: &PackId,
        provider: &ProviderId,
        event: ProviderEvent,
        message: Option<&str>,
    ) {
        if let Err(e) = self
            .store()
            .installs()
            .apply_event(host, pack, provider, event, message)
        {
            tracing::warn!(provider = %provider, ?event, error = %e, "provider status not changed");
        }
    }
}
