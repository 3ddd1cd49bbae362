//! The use-case ports implemented with the state store: the managed-resource
//! journal, the subscriber vault, probe persistence and randomness.

use relay_core::{
    Journal, JournalEntry, JournalError, JournalScope, ManagedSubscriber, NewEntry, Observer,
    ProbeRecord, Randomness, SubscriberVault, VaultError,
};
use relay_domain::{BatchId, Fingerprint, HostId, ReconcileRunId, ResourceState, Secret};
use relay_store::{
    NewProbeResult, NewResource, ProbeRepository, ResourceRecord, ResourceRepository,
    SecretRepository, SecretSlot, Store, StoreError, SubscriberRepository,
};
use relay_sub2api::ObjectId;
use std::sync::Arc;

use crate::leases::LeaseKeeper;
use serde_json::Value;

/// The [`Randomness`] port over the operating system's random source ([`crate::random_bytes`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct OsRandomness;

impl Randomness for OsRandomness {
    fn fill(&self, buf: &mut [u8]) {
        buf.copy_from_slice(&crate::random_bytes(buf.len()));
    }
}

fn entry(r: ResourceRecord) -> JournalEntry {
    JournalEntry {
        id: r.id,
        host_id: r.host_id,
        pack_id: r.pack_id,
        provider_id: r.provider_id,
        batch_id: r.batch_id,
        resource_type: r.resource_type,
        host_resource_id: r.host_resource_id,
        logical_key: r.logical_key,
        state: r.state,
        fingerprint: r.fingerprint,
        details: r.details,
    }
}

/// The journal of one (host, pack, provider) scope, backed by `managed_resources`.
#[derive(Debug, Clone)]
pub struct StoreJournal {
    store: Store,
    scope: JournalScope,
    fence: Option<Arc<LeaseKeeper>>,
}

impl StoreJournal {
    /// A journal handle over the store.
    pub fn new(store: Store, scope: JournalScope) -> Self {
        StoreJournal {
            store,
            scope,
            fence: None,
        }
    }

    /// A journal handle whose every write first proves the work's lease is still
    /// this server's: a server whose lease lapsed and was taken over records
    /// nothing more (and so makes no host object) beside the new holder.
    pub(crate) fn fenced(
        store: Store,
        scope: JournalScope,
        fence: Option<Arc<LeaseKeeper>>,
    ) -> Self {
        StoreJournal {
            store,
            scope,
            fence,
        }
    }

    fn fenced_write(&self) -> Result<(), JournalError> {
        match &self.fence {
            Some(f) => f.ensure().map_err(JournalError::Storage),
            None => Ok(()),
        }
    }

    fn new_resource(&self, e: &NewEntry) -> NewResource {
        NewResource {
            host_id: self.scope.host_id.clone(),
            pack_id: self.scope.pack_id.clone(),
            provider_id: self.scope.provider_id.clone(),
            batch_id: self.scope.batch_id.clone(),
            resource_type: e.resource_type,
            logical_key: e.logical_key.clone(),
            fingerprint: e.fingerprint.clone(),
            details: e.details.clone(),
        }
    }
}

fn journal_error(e: StoreError, id: Option<i64>) -> JournalError {
    match e {
        StoreError::InvalidState { what } => JournalError::InvalidState(what),
        StoreError::NotFound { .. } => JournalError::NotFound(id.unwrap_or_default()),
        other => JournalError::Storage(other.to_string()),
    }
}

impl Journal for StoreJournal {
    fn scope(&self) -> JournalScope {
        self.scope.clone()
    }

    fn record_intent(&self, e: &NewEntry) -> Result<JournalEntry, JournalError> {
        self.fenced_write()?;
        self.store
            .resources()
            .record_intent(&self.new_resource(e))
            .map(entry)
            .map_err(|err| journal_error(err, None))
    }

    fn record_existing(
        &self,
        e: &NewEntry,
        host_resource_id: ObjectId,
        state: ResourceState,
    ) -> Result<JournalEntry, JournalError> {
        self.fenced_write()?;
        self.store
            .resources()
            .record_existing(&self.new_resource(e), host_resource_id, state)
            .map(entry)
            .map_err(|err| match err {
                StoreError::Conflict { .. } => JournalError::AlreadyRecorded {
                    resource_type: e.resource_type,
                    host_resource_id,
                },
                other => journal_error(other, None),
            })
    }

    fn attach_host_id(
        &self,
        id: i64,
        host_resource_id: ObjectId,
        state: ResourceState,
    ) -> Result<JournalEntry, JournalError> {
        self.fenced_write()?;
        let resources = self.store.resources();
        resources
            .attach_host_id(id, host_resource_id, state)
            .map(entry)
            .map_err(|err| match err {
                StoreError::Conflict { .. } => {
                    let resource_type = resources
                        .get(id)
                        .map(|r| r.resource_type)
                        .unwrap_or(relay_domain::ResourceType::Account);
                    JournalError::AlreadyRecorded {
                        resource_type,
                        host_resource_id,
                    }
                }
                other => journal_error(other, Some(id)),
            })
    }

    fn set_state(&self, id: i64, state: ResourceState) -> Result<JournalEntry, JournalError> {
        self.fenced_write()?;
        self.store
            .resources()
            .set_state(id, state)
            .map(entry)
            .map_err(|err| journal_error(err, Some(id)))
    }

    fn set_details(&self, id: i64, details: &Value) -> Result<JournalEntry, JournalError> {
        self.fenced_write()?;
        self.store
            .resources()
            .set_details(id, details)
            .map(entry)
            .map_err(|err| journal_error(err, Some(id)))
    }

    fn list_batch(&self, batch_id: &BatchId) -> Result<Vec<JournalEntry>, JournalError> {
        self.store
            .resources()
            .list_by_batch(batch_id)
            .map(|v| v.into_iter().map(entry).collect())
            .map_err(|err| journal_error(err, None))
    }

    fn get(&self, id: i64) -> Result<Option<JournalEntry>, JournalError> {
        match self.store.resources().get(id) {
            Ok(r) => {
                let s = &self.scope;
                let in_scope = r.host_id == s.host_id
                    && r.pack_id == s.pack_id
                    && r.provider_id == s.provider_id;
                Ok(in_scope.then(|| entry(r)))
            }
            Err(StoreError::NotFound { .. }) => Ok(None),
            Err(e) => Err(journal_error(e, Some(id))),
        }
    }

    fn list_provider(&self) -> Result<Vec<JournalEntry>, JournalError> {
        self.store
            .resources()
            .list_for_provider(
                &self.scope.host_id,
                &self.scope.pack_id,
                &self.scope.provider_id,
            )
            .map(|v| v.into_iter().map(entry).collect())
            .map_err(|err| journal_error(err, None))
    }

    fn find_live_account(
        &self,
        fingerprint: &Fingerprint,
    ) -> Result<Option<JournalEntry>, JournalError> {
        self.store
            .resources()
            .find_live_account(&self.scope.host_id, &self.scope.provider_id, fingerprint)
            .map(|o| o.map(entry))
            .map_err(|err| journal_error(err, None))
    }
}

/// Sealed passwords and user keys of managed subscribers on one host.
#[derive(Debug, Clone)]
pub struct StoreVault {
    store: Store,
    host_id: HostId,
}

impl StoreVault {
    /// The vault of one host.
    pub fn new(store: Store, host_id: HostId) -> Self {
        StoreVault { store, host_id }
    }

    fn key_slot(&self, email: &str, group_id: ObjectId) -> Result<Option<SecretSlot>, VaultError> {
        let sub = self
            .store
            .subscribers()
            .find_by_email(&self.host_id, email)
            .map_err(vault_error)?;
        Ok(sub.map(|s| SecretSlot::subscriber_user_key(s.id, &format!("user_key:{group_id}"))))
    }
}

fn vault_error(e: StoreError) -> VaultError {
    VaultError::Storage(e.to_string())
}

impl SubscriberVault for StoreVault {
    fn subscriber(&self, email: &str) -> Result<Option<ManagedSubscriber>, VaultError> {
        let subs = self.store.subscribers();
        let Some(rec) = subs
            .find_by_email(&self.host_id, email)
            .map_err(vault_error)?
        else {
            return Ok(None);
        };
        Ok(Some(ManagedSubscriber {
            email: rec.email,
            password: subs.password(rec.id).map_err(vault_error)?,
            host_user_id: rec.host_user_id,
        }))
    }

    fn get_or_create(
        &self,
        email: &str,
        candidate_password: Secret,
    ) -> Result<ManagedSubscriber, VaultError> {
        if let Some(existing) = self.subscriber(email)? {
            return Ok(existing);
        }
        let rec = self
            .store
            .subscribers()
            .upsert(&self.host_id, email, &candidate_password, None)
            .map_err(vault_error)?;
        Ok(ManagedSubscriber {
            email: rec.email,
            password: candidate_password,
            host_user_id: rec.host_user_id,
        })
    }

    fn set_host_user_id(&self, email: &str, host_user_id: ObjectId) -> Result<(), VaultError> {
        let subs = self.store.subscribers();
        let rec = subs
            .find_by_email(&self.host_id, email)
            .map_err(vault_error)?
            .ok_or_else(|| VaultError::Storage(format!("no managed subscriber {email}")))?;
        subs.set_host_user_id(rec.id, host_user_id)
            .map_err(vault_error)?;
        Ok(())
    }

    fn user_key(&self, email: &str, group_id: ObjectId) -> Result<Option<Secret>, VaultError> {
        match self.key_slot(email, group_id)? {
            Some(slot) => self.store.secrets().get(&slot).map_err(vault_error),
            None => Ok(None),
        }
    }

    fn put_user_key(
        &self,
        email: &str,
        group_id: ObjectId,
        key: &Secret,
    ) -> Result<(), VaultError> {
        let slot = self
            .key_slot(email, group_id)?
            .ok_or_else(|| VaultError::Storage(format!("no managed subscriber {email}")))?;
        self.store.secrets().put(&slot, key).map_err(vault_error)?;
        Ok(())
    }

    fn remove_user_key(&self, email: &str, group_id: ObjectId) -> Result<(), VaultError> {
        if let Some(slot) = self.key_slot(email, group_id)? {
            self.store.secrets().delete(&slot).map_err(vault_error)?;
        }
        Ok(())
    }
}

/// Persists probe records of one provider (during a batch or a reconcile run).
#[derive(Debug, Clone)]
pub struct StoreProbeObserver {
    store: Store,
    scope: JournalScope,
    reconcile_run_id: Option<ReconcileRunId>,
}

impl StoreProbeObserver {
    /// An observer for the scope (its batch, if any) and an optional reconcile run.
    pub fn new(
        store: Store,
        scope: JournalScope,
        reconcile_run_id: Option<ReconcileRunId>,
    ) -> Self {
        StoreProbeObserver {
            store,
            scope,
            reconcile_run_id,
        }
    }
}

impl Observer for StoreProbeObserver {
    fn probe(&self, record: ProbeRecord) {
        let result = self.store.probes().insert(&NewProbeResult {
            host_id: self.scope.host_id.clone(),
            pack_id: Some(self.scope.pack_id.clone()),
            provider_id: Some(self.scope.provider_id.clone()),
            batch_id: self.scope.batch_id.clone(),
            reconcile_run_id: self.reconcile_run_id.clone(),
            kind: record.kind,
            subject: record.subject,
            outcome: record.verdict,
            http_status: record.http_status,
            message: record.message,
            duration_ms: record.duration_ms,
            details: record.details,
        });
        if let Err(e) = result {
            tracing::error!(error = %e, "cannot record a probe result");
        }
    }
}
