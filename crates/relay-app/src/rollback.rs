//! Rollbacks (SPEC §4.6): of one batch, and of everything recorded for a provider
//! on a host.

use crate::app::App;
use crate::batches::BatchView;
use crate::context::{ProviderContext, ProviderLock};
use crate::error::{provision_error, redact_app_error, AppError, AppResult};
use crate::ports::{StoreJournal, StoreVault};
use relay_domain::{
    AccessStatus, BatchEvent, BatchId, BatchStatus, HostId, ItemStatus, PackId, ProviderEvent,
    ProviderId, Redactor, ResourceState, ResourceType,
};
use relay_provision::{ProvisionError, RollbackReport};
use relay_store::{
    BatchFilter, BatchRecord, BatchRepository, InstallRepository, ItemUpdate, ResourceRepository,
};
use serde_json::{json, Value};
use std::sync::Arc;

impl App {
    /// Rolls back everything a batch recorded (SPEC §4.6).
    pub fn rollback_batch(self: &Arc<Self>, batch_id: &str) -> AppResult<BatchView> {
        let report = self.rollback_batch_run(batch_id)?;
        let mut view = self.batch_view(batch_id)?;
        view.rollback = Some(report);
        Ok(view)
    }

    /// [`App::rollback_batch`], returning the rollback's report only: the batch's
    /// view is read page by page by whoever answers with it.
    pub fn rollback_batch_run(self: &Arc<Self>, batch_id: &str) -> AppResult<RollbackReport> {
        let batch = self.store().batches().get(&BatchId::new(batch_id))?;
        let ctx = self.provider_context(
            &batch.provider_id.0,
            batch.host_id.as_str(),
            Some(&batch.pack_id.0),
        )?;
        let lock = self.lock_provider(&ctx)?;
        let batch = self.store().batches().get(&batch.id)?;
        if !matches!(
            batch.status,
            BatchStatus::Failed
                | BatchStatus::Succeeded
                | BatchStatus::PartiallySucceeded
                | BatchStatus::Interrupted
        ) {
            return Err(AppError::Conflict {
                code: "batch_not_rollbackable",
                message: format!(
                    "batch {} is {}: only succeeded, partially_succeeded, failed or interrupted batches can be rolled back",
                    batch.id, batch.status
                ),
            });
        }
        self.run_rollback(&ctx, &batch, &lock)
    }

    /// The redaction step of a batch whose keys are gone: the application's secrets,
    /// the fingerprints of the batch's keys, the key patterns.
    fn batch_redactor(&self, batch_id: &BatchId) -> AppResult<Redactor> {
        let mut r = self.redactor();
        for item in self.store().batches().items(batch_id)? {
            r.add_fingerprint(&item.fingerprint);
        }
        Ok(r)
    }

    pub(crate) fn run_rollback(
        &self,
        ctx: &ProviderContext,
        batch: &BatchRecord,
        lock: &ProviderLock,
    ) -> AppResult<RollbackReport> {
        let redactor = self.batch_redactor(&batch.id)?;
        let result = self.run_rollback_unredacted(ctx, batch, &redactor, lock);
        result
            .map(|mut r| {
                r.redact(&redactor);
                r
            })
            .map_err(|e| redact_app_error(e, &redactor))
    }

    fn run_rollback_unredacted(
        &self,
        ctx: &ProviderContext,
        batch: &BatchRecord,
        redactor: &Redactor,
        lock: &ProviderLock,
    ) -> AppResult<RollbackReport> {
        let store = self.store();
        let mut report_json = batch.report.clone().unwrap_or_else(|| json!({}));
        if let Some(obj) = report_json.as_object_mut() {
            obj.insert("phase".into(), json!("rollback"));
        }
        store
            .batches()
            .set_report(&batch.id, &report_json, batch.error.as_deref())?;
        store
            .batches()
            .transition(&batch.id, BatchEvent::StartRollback)?;
        let journal = StoreJournal::fenced(
            store.clone(),
            ctx.scope(Some(batch.id.clone())),
            lock.fence(),
        );
        let vault = StoreVault::new(store.clone(), ctx.host.id.clone());
        let (host, pack, provider) = (
            &ctx.host.id,
            &ctx.provider.pack_id,
            &ctx.provider.provider_id,
        );
        let adapter = ctx.adapter_as(crate::audit::origin(
            relay_domain::AuditOriginKind::Rollback,
            Some(batch.id.as_str()),
        ));
        match relay_provision::rollback_batch(adapter.as_ref(), &journal, &vault, &batch.id) {
            Ok(mut r) => {
                r.redact(redactor);
                if let Some(obj) = report_json.as_object_mut() {
                    obj.insert(
                        "rollback".into(),
                        serde_json::to_value(&r).unwrap_or(Value::Null),
                    );
                }
                if r.complete {
                    for item in store.batches().items(&batch.id)? {
                        if matches!(
                            item.status,
                            ItemStatus::Created | ItemStatus::Passed | ItemStatus::Warning
                        ) || (item.status == ItemStatus::Failed && item.account_id.is_some())
                        {
                            store.batches().update_item(
                                &batch.id,
                                &item.fingerprint,
                                &ItemUpdate {
                                    status: Some(ItemStatus::RolledBack),
                                    ..ItemUpdate::default()
                                },
                            )?;
                        }
                    }
                    store
                        .batches()
                        .set_report(&batch.id, &report_json, batch.error.as_deref())?;
                    store
                        .batches()
                        .transition(&batch.id, BatchEvent::RollbackDone)?;
                    if !self.provider_has_live_resources(host, pack, provider)? {
                        self.apply_provider_event(
                            host,
                            pack,
                            provider,
                            ProviderEvent::RolledBack,
                            None,
                        );
                        store.installs().set_access_status(
                            host,
                            pack,
                            provider,
                            AccessStatus::NotConfigured,
                        )?;
                    } else if let Some(removed) = removed_access_objects(&r) {
                        // What remains was never proven without the removed objects.
                        store.installs().set_access_status(
                            host,
                            pack,
                            provider,
                            AccessStatus::Broken,
                        )?;
                        let message = format!(
                            "access broken: the rollback of batch {} removed {removed}; the provider's other objects remain and access must be proven again (reconcile)",
                            batch.id
                        );
                        self.apply_provider_event(
                            host,
                            pack,
                            provider,
                            ProviderEvent::Drift,
                            Some(&message),
                        );
                    }
                } else {
                    let names: Vec<String> = r
                        .remaining
                        .iter()
                        .map(|x| format!("{} {} ({})", x.resource_type, x.host_id, x.error))
                        .collect();
                    let message = format!(
                        "rollback left {} object(s): {}",
                        names.len(),
                        names.join("; ")
                    );
                    store
                        .batches()
                        .set_report(&batch.id, &report_json, Some(&message))?;
                    store.batches().transition(&batch.id, BatchEvent::Fail)?;
                    let message = self.access_broken_after_rollback(
                        host,
                        pack,
                        provider,
                        &format!("the rollback did not finish and {message}"),
                    )?;
                    self.apply_provider_event(
                        host,
                        pack,
                        provider,
                        ProviderEvent::Drift,
                        Some(&message),
                    );
                }
                Ok(r)
            }
            Err(e) => {
                let message = redactor.redact(&format!("rollback failed: {e}"));
                store
                    .batches()
                    .set_report(&batch.id, &report_json, Some(&message))?;
                store.batches().transition(&batch.id, BatchEvent::Fail)?;
                let message = self.access_broken_after_rollback(
                    host,
                    pack,
                    provider,
                    &format!("{message}; what it had deleted before is gone and the rest remains"),
                )?;
                self.apply_provider_event(
                    host,
                    pack,
                    provider,
                    ProviderEvent::Drift,
                    Some(&message),
                );
                Err(provision_error(e))
            }
        }
    }

    /// Rolls back everything recorded for a provider on a host; refuses when
    /// nothing is recorded.
    pub fn rollback_provider(
        self: &Arc<Self>,
        provider_id: &str,
        host: &str,
        pack_id: Option<&str>,
    ) -> AppResult<RollbackReport> {
        let ctx = self.provider_context(provider_id, host, pack_id)?;
        let lock = self.lock_provider(&ctx)?;
        let store = self.store();
        let journal = StoreJournal::fenced(store.clone(), ctx.scope(None), lock.fence());
        let vault = StoreVault::new(store.clone(), ctx.host.id.clone());
        let (h, p, pr) = (
            &ctx.host.id,
            &ctx.provider.pack_id,
            &ctx.provider.provider_id,
        );
        let mut redactor = self.redactor();
        for r in store.resources().list_for_provider(h, p, pr)? {
            if let Some(fp) = &r.fingerprint {
                redactor.add_fingerprint(fp);
            }
        }
        let adapter = ctx.adapter_as(crate::audit::origin(
            relay_domain::AuditOriginKind::Rollback,
            None,
        ));
        let mut report = relay_provision::rollback_provider(adapter.as_ref(), &journal, &vault)
            .map_err(|e| match e {
                ProvisionError::NothingRecorded { .. } => AppError::Conflict {
                    code: "nothing_recorded",
                    message: format!(
                        "nothing is recorded for provider {provider_id} on host {}: there is nothing to roll back",
                        ctx.host.name
                    ),
                },
                other => redact_app_error(provision_error(other), &redactor),
            })?;
        report.redact(&redactor);
        let batches = store.batches().list(&BatchFilter {
            host_id: Some(h.clone()),
            pack_id: Some(p.clone()),
            provider_id: Some(pr.clone()),
            ..BatchFilter::default()
        })?;
        for b in batches {
            if !matches!(
                b.status,
                BatchStatus::Failed
                    | BatchStatus::Succeeded
                    | BatchStatus::PartiallySucceeded
                    | BatchStatus::Interrupted
            ) {
                continue;
            }
            store
                .batches()
                .transition(&b.id, BatchEvent::StartRollback)?;
            let event = if report.complete {
                BatchEvent::RollbackDone
            } else {
                BatchEvent::Fail
            };
            store.batches().transition(&b.id, event)?;
        }
        if report.complete {
            self.apply_provider_event(h, p, pr, ProviderEvent::RolledBack, None);
            store
                .installs()
                .set_access_status(h, p, pr, AccessStatus::NotConfigured)?;
        } else {
            let names: Vec<String> = report
                .remaining
                .iter()
                .map(|x| format!("{} {} ({})", x.resource_type, x.host_id, x.error))
                .collect();
            let message = self.access_broken_after_rollback(
                h,
                p,
                pr,
                &format!(
                    "the provider rollback did not finish and left {} object(s) on the host: {}",
                    names.len(),
                    names.join("; ")
                ),
            )?;
            self.apply_provider_event(h, p, pr, ProviderEvent::Drift, Some(&message));
        }
        Ok(report)
    }

    /// True when the provider still has objects the manager owns or reuses on the host.
    fn provider_has_live_resources(
        &self,
        host: &HostId,
        pack: &PackId,
        provider: &ProviderId,
    ) -> AppResult<bool> {
        Ok(self
            .store()
            .resources()
            .list_for_provider(host, pack, provider)?
            .into_iter()
            .any(|r| r.state.is_owned_live() || r.state == ResourceState::Reused))
    }

    /// Records the access status after a rollback that did not finish: part of what
    /// the access proof rested on may be gone, so the provider is never left ready.
    /// `broken` while objects remain, `not_configured` when nothing does. Returns the
    /// provider message, which says what remains.
    fn access_broken_after_rollback(
        &self,
        host: &HostId,
        pack: &PackId,
        provider: &ProviderId,
        what: &str,
    ) -> AppResult<String> {
        let live = self.provider_has_live_resources(host, pack, provider)?;
        let status = if live {
            AccessStatus::Broken
        } else {
            AccessStatus::NotConfigured
        };
        self.store()
            .installs()
            .set_access_status(host, pack, provider, status)?;
        Ok(format!("access {status}: {what}"))
    }
}

/// The objects the access proof rests on (accounts, group, subscription, user key)
/// that a finished rollback deleted, described for the provider message; `None`
/// when it deleted none of them.
fn removed_access_objects(r: &RollbackReport) -> Option<String> {
    let removed: Vec<String> = r
        .deleted
        .iter()
        .filter(|d| {
            matches!(
                d.resource_type,
                ResourceType::Account
                    | ResourceType::Group
                    | ResourceType::Subscription
                    | ResourceType::UserKey
                    | ResourceType::User
            )
        })
        .map(|d| format!("{} {}", d.resource_type, d.host_id))
        .collect();
    (!removed.is_empty()).then(|| removed.join(", "))
}
