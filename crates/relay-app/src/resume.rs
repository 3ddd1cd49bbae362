//! Resume of an interrupted batch (SPEC §3, §8): finishes a rollback that was
//! running, or the import (keys may be supplied again).

use crate::app::App;
use crate::batches::BatchView;
use crate::error::{AppError, AppResult};
use crate::imports::{ImportInput, StoreBatchObserver};
use crate::ports::{OsRandomness, StoreJournal, StoreVault};
use relay_access::AccessClosure;
use relay_core::{Ports, SubscriberSelector, SYSTEM_CLOCK};
use relay_domain::{AccessMode, BatchEvent, BatchId, BatchStatus, Secret};
use relay_provision::{ResumeItem, ResumeRequest, RollbackReport};
use relay_store::{BatchRepository, SecretRepository, SecretSlot};
use serde_json::Value;
use std::sync::Arc;
use std::time::Instant;

impl App {
    /// Finishes an interrupted batch: continues a rollback that was running, or
    /// resumes the import (keys may be supplied again to create what is missing).
    pub fn resume_batch(
        self: &Arc<Self>,
        batch_id: &str,
        keys: Option<Secret>,
    ) -> AppResult<BatchView> {
        let rollback = self.resume_batch_run(batch_id, keys)?;
        let mut view = self.batch_view(batch_id)?;
        view.rollback = rollback;
        Ok(view)
    }

    /// [`App::resume_batch`], returning the report of the rollback it continued, if
    /// it continued one: the batch's view is read page by page by whoever answers
    /// with it.
    pub fn resume_batch_run(
        self: &Arc<Self>,
        batch_id: &str,
        keys: Option<Secret>,
    ) -> AppResult<Option<RollbackReport>> {
        let batch = self.store().batches().get(&BatchId::new(batch_id))?;
        if batch.status != BatchStatus::Interrupted {
            return Err(AppError::Conflict {
                code: "batch_not_resumable",
                message: format!(
                    "batch {} is {}: only interrupted batches can be resumed",
                    batch.id, batch.status
                ),
            });
        }
        let mut ctx = self.provider_context(
            &batch.provider_id.0,
            batch.host_id.as_str(),
            Some(&batch.pack_id.0),
        )?;
        ctx.audit_as(crate::audit::origin(
            relay_domain::AuditOriginKind::Resume,
            Some(batch.id.as_str()),
        ));
        let lock = self.lock_provider(&ctx)?;
        let phase = batch
            .report
            .as_ref()
            .and_then(|r| r.get("phase"))
            .and_then(Value::as_str)
            .unwrap_or("import");
        if phase == "rollback" {
            let report = self.run_rollback(&ctx, &batch, &lock)?;
            drop(lock);
            return Ok(Some(report));
        }
        let req = &batch.request;
        let recorded: Vec<(SubscriberSelector, Option<u32>)> = req
            .get("subscribers")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|s| {
                        let selector = if let Some(id) = s.get("user_id").and_then(Value::as_i64) {
                            Some(SubscriberSelector::UserId(id))
                        } else {
                            s.get("email")
                                .and_then(Value::as_str)
                                .map(|e| SubscriberSelector::Email(e.to_string()))
                        }?;
                        let days = s
                            .get("validity_days")
                            .and_then(Value::as_u64)
                            .map(|d| d as u32);
                        Some((selector, days))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let subscriber_validity_days = recorded
            .iter()
            .filter_map(|(s, d)| d.map(|d| (s.clone(), d)))
            .collect();
        let subscribers = recorded.into_iter().map(|(s, _)| s).collect();
        let probe_key = if batch.access_mode == AccessMode::SelfService
            || req.get("probe_key").is_some_and(|v| !v.is_null())
        {
            self.store().secrets().get(&SecretSlot::probe_key(
                &ctx.host.id,
                &ctx.provider.pack_id,
                &ctx.provider.provider_id,
            ))?
        } else {
            None
        };
        let input = ImportInput {
            host: ctx.host.id.to_string(),
            pack_id: Some(ctx.provider.pack_id.0.clone()),
            keys: keys.unwrap_or_else(|| Secret::new("")),
            mode: batch.mode,
            access_mode: batch.access_mode,
            subscribers,
            validity_days: req
                .get("validity_days")
                .and_then(Value::as_u64)
                .map(|v| v as u32),
            subscriber_validity_days,
            probe_key,
            replace_existing: req
                .get("replace_existing")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            concurrency: req
                .get("concurrency")
                .and_then(Value::as_u64)
                .map(|v| v as usize),
            warmup_window: None,
            balance: None,
        };
        let import = self.import_request(&input)?;
        let items: Vec<ResumeItem> = self
            .store()
            .batches()
            .items(&batch.id)?
            .into_iter()
            .map(|i| ResumeItem {
                line: i.seq as usize,
                fingerprint: i.fingerprint,
                mask: i.mask,
                plan: i.plan,
            })
            .collect();
        let mut redactor = self.redactor_with(&import.redactor());
        for i in &items {
            redactor.add_fingerprint(&i.fingerprint);
        }
        self.store()
            .batches()
            .transition(&batch.id, BatchEvent::Start)?;
        let started = Instant::now();
        let scope = ctx.scope(Some(batch.id.clone()));
        let journal = StoreJournal::fenced(self.store().clone(), scope.clone(), lock.fence());
        let vault = StoreVault::new(self.store().clone(), ctx.host.id.clone());
        let observer = StoreBatchObserver::new(
            self.store().clone(),
            scope,
            batch.id.clone(),
            redactor.clone(),
        );
        let ports = Ports {
            adapter: ctx.adapter.as_ref(),
            journal: &journal,
            vault: &vault,
            random: &OsRandomness,
            observer: &observer,
            clock: &SYSTEM_CLOCK,
        };
        let result = relay_provision::resume_batch(
            &ports,
            &AccessClosure,
            &ctx.target,
            &ResumeRequest { import, items },
        )
        .map_err(|e| e.to_string());
        self.finish_run(&ctx, &batch.id, result, started, &redactor, &lock);
        drop(lock);
        Ok(None)
    }
}
