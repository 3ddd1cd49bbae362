//! Evidence documents (SPEC §6.3): one self-contained JSON document per import
//! batch (and, later, per reconcile run) with what was asked, every host object
//! touched, every probe with status and timings, and the verdicts. No secrets:
//! everything it contains was stored without them (fingerprints and masks only,
//! host texts redacted when stored), and the document passes the application's
//! redaction step once more (with the batch keys' fingerprints) before it leaves.

use crate::app::App;
use crate::error::AppResult;
use relay_store::{HostRepository, ProviderRepository, Timestamp};
use serde_json::{json, Value};

/// Version of the evidence document format.
pub const EVIDENCE_FORMAT: &str = "relay-evidence/1";

impl App {
    /// The evidence document of an import batch.
    pub fn batch_evidence(&self, batch_id: &str) -> AppResult<Value> {
        let view = self.batch_view(batch_id)?;
        let host = self.store().hosts().get(&view.batch.host_id)?;
        let provider = self
            .store()
            .providers()
            .get(&view.batch.pack_id, &view.batch.provider_id)?;
        let pack = relay_store::PackRepository::get(&self.store().packs(), &view.batch.pack_id)?;
        let mut redactor = self.redactor();
        for item in &view.items {
            redactor.add_fingerprint(&item.fingerprint);
        }
        let doc = json!({
            "format": EVIDENCE_FORMAT,
            "kind": "import_batch",
            "generated_at": Timestamp::now().to_rfc3339(),
            "host": {
                "id": host.id,
                "name": host.name,
                "base_url": host.base_url,
                "version": host.version,
                "status": host.status,
            },
            "pack": {"pack_id": pack.pack_id, "version": pack.version, "source_digest": pack.source_digest},
            "provider": {
                "provider_id": provider.provider_id,
                "display_name": provider.display_name,
                "base_url": provider.base_url,
                "smoke_test_model": provider.manifest.get("smoke_test_model"),
            },
            "asked": view.batch.request,
            "batch": {
                "id": view.batch.id,
                "mode": view.batch.mode,
                "access_mode": view.batch.access_mode,
                "status": view.batch.status,
                "error": view.batch.error,
                "counts": view.batch.counts,
                "created_at": view.batch.created_at.to_rfc3339(),
                "started_at": view.batch.started_at.map(|t| t.to_rfc3339()),
                "finished_at": view.batch.finished_at.map(|t| t.to_rfc3339()),
                "interrupted_at": view.batch.interrupted_at.map(|t| t.to_rfc3339()),
            },
            "keys": view.items,
            "host_objects": view.resources,
            "probes": view.probes,
            "access_proofs": view.closures,
            "report": view.batch.report,
            "reconcile_runs": view.reconcile_runs,
        });
        Ok(redactor.redact_json(&doc))
    }
}
