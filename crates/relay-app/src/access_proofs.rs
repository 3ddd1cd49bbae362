//! Access proofs: the closures of an import, an access check or a reconcile run
//! stored with the access status they lead to.

use crate::app::App;
use crate::context::ProviderContext;
use crate::error::AppResult;
use relay_domain::{AccessMode, AccessStatus, BatchId, ModeProof, ReconcileRunId};
use relay_store::{
    AccessClosureRecord, AccessClosureRepository, InstallRepository, NewAccessClosure,
};
use serde_json::Value;

/// The proof of a mode by its latest stored closure (completion-gated, as
/// [`ModeProof::from_probe`] decides); not attempted without one.
fn mode_proof_of(closure: Option<&AccessClosureRecord>) -> ModeProof {
    closure.map_or(ModeProof::NotAttempted, |c| {
        ModeProof::from_probe(
            c.expected_model_seen,
            c.completion_status.is_some_and(|s| (200..300).contains(&s)),
        )
    })
}

impl App {
    /// Stores the access proofs of a closure and the resulting access status
    /// (combined with the latest proof of a mode this closure did not attempt).
    pub(crate) fn record_access(
        &self,
        ctx: &ProviderContext,
        batch_id: Option<&BatchId>,
        access: &relay_core::AccessReport,
    ) -> AppResult<AccessStatus> {
        self.persist_access(
            ctx,
            batch_id,
            None,
            access.subscription,
            access.self_service,
            &access.proofs(),
        )
    }

    /// Stores access proofs (of an import, a closure or a reconcile run) and the
    /// derived access status of the provider on the host.
    pub(crate) fn persist_access(
        &self,
        ctx: &ProviderContext,
        batch_id: Option<&BatchId>,
        run_id: Option<&ReconcileRunId>,
        subscription: ModeProof,
        self_service: ModeProof,
        proofs: &[&relay_core::AccessProof],
    ) -> AppResult<AccessStatus> {
        let store = self.store();
        let (host, pack, provider) = (
            &ctx.host.id,
            &ctx.provider.pack_id,
            &ctx.provider.provider_id,
        );
        let latest = |mode| store.closures().latest(host, pack, provider, Some(mode));
        let sub = match subscription {
            ModeProof::NotAttempted => mode_proof_of(latest(AccessMode::Subscription)?.as_ref()),
            p => p,
        };
        let own = match self_service {
            ModeProof::NotAttempted => mode_proof_of(latest(AccessMode::SelfService)?.as_ref()),
            p => p,
        };
        let status = AccessStatus::derive(sub, own);
        for proof in proofs {
            store.closures().insert(&NewAccessClosure {
                host_id: host.clone(),
                pack_id: pack.clone(),
                provider_id: provider.clone(),
                batch_id: batch_id.cloned(),
                reconcile_run_id: run_id.cloned(),
                mode: proof.mode,
                probe_key_source: proof.key_source,
                probe_key_fingerprint: Some(proof.key_fingerprint.clone()),
                probe_key_mask: Some(proof.key_mask.clone()),
                models_status: proof.models_status,
                expected_model_seen: proof.smoke_model_seen,
                completion_status: proof.completion_status,
                completion_type: proof.completion_type.clone(),
                completion_preview: proof.completion_preview.clone(),
                access_status: status,
                message: proof.message.clone(),
                details: serde_json::to_value(proof).unwrap_or(Value::Null),
            })?;
        }
        store
            .installs()
            .set_access_status(host, pack, provider, status)?;
        Ok(status)
    }
}
