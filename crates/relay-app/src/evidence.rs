//! Evidence documents (SPEC §6.3): one self-contained JSON document per import
//! batch (and, later, per reconcile run) with what was asked, every host object
//! touched, every probe with status and timings, and the verdicts. No secrets:
//! everything it contains was stored without them (fingerprints and masks only,
//! host texts redacted when stored), and the document passes the application's
//! redaction step once more (with the batch keys' fingerprints) before it leaves.

use crate::app::App;
use crate::error::AppResult;
use relay_domain::{BatchId, Redactor};
use relay_store::{BatchRepository, HostRepository, ProviderRepository, Timestamp};
use serde_json::{json, Value};

/// Version of the evidence document format.
pub const EVIDENCE_FORMAT: &str = "relay-evidence/1";

/// The parts of a batch's evidence document that do not grow with its keys, and the
/// redactor every part of the document passes; the rest (keys, host objects, probes,
/// access proofs, reconcile runs) is read from the batch page by page.
#[derive(Debug, Clone)]
pub struct EvidenceHead {
    /// The batch.
    pub batch_id: BatchId,
    /// `format`, `kind`, `generated_at`, `host`, `pack`, `provider`, `asked`, `batch`.
    pub head: Value,
    /// The batch's stored report.
    pub report: Option<Value>,
    /// The application's redaction step plus the fingerprints of the batch's keys.
    pub redactor: Redactor,
}

/// Items read at once while the evidence's redactor learns the keys' fingerprints.
const FINGERPRINT_PAGE: u32 = 1000;

impl App {
    /// The evidence document of an import batch, whole. An answer of many keys is
    /// better written part by part from [`App::batch_evidence_head`] and the pages of
    /// the batch's rows.
    pub fn batch_evidence(&self, batch_id: &str) -> AppResult<Value> {
        let EvidenceHead {
            batch_id,
            mut head,
            report,
            redactor,
        } = self.batch_evidence_head(batch_id)?;
        let view = self.batch_view(batch_id.as_str())?;
        if let Some(doc) = head.as_object_mut() {
            doc.insert("keys".into(), json!(view.items));
            doc.insert("host_objects".into(), json!(view.resources));
            doc.insert("probes".into(), json!(view.probes));
            doc.insert("access_proofs".into(), json!(view.closures));
            doc.insert("report".into(), json!(report));
            doc.insert("reconcile_runs".into(), json!(view.reconcile_runs));
            doc.insert(
                "audit_events".into(),
                json!(self.all_audit_events_of(batch_id.as_str())?),
            );
        }
        Ok(redactor.redact_json(&head))
    }

    /// The head of a batch's evidence document and its redactor ([`EvidenceHead`]).
    pub fn batch_evidence_head(&self, batch_id: &str) -> AppResult<EvidenceHead> {
        let batch = self.store().batches().get(&BatchId::new(batch_id))?;
        let host = self.store().hosts().get(&batch.host_id)?;
        let provider = self
            .store()
            .providers()
            .get(&batch.pack_id, &batch.provider_id)?;
        let pack = relay_store::PackRepository::get(&self.store().packs(), &batch.pack_id)?;
        let mut redactor = self.redactor();
        let mut after = 0;
        loop {
            let page = self.batch_items_page(&batch.id, after, FINGERPRINT_PAGE)?;
            for item in &page {
                redactor.add_fingerprint(&item.fingerprint);
            }
            match page.last() {
                Some(last) if page.len() == FINGERPRINT_PAGE as usize => after = last.seq,
                _ => break,
            }
        }
        let head = json!({
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
            "asked": batch.request,
            "batch": {
                "id": batch.id,
                "mode": batch.mode,
                "access_mode": batch.access_mode,
                "status": batch.status,
                "error": batch.error,
                "counts": batch.counts,
                "created_at": batch.created_at.to_rfc3339(),
                "started_at": batch.started_at.map(|t| t.to_rfc3339()),
                "finished_at": batch.finished_at.map(|t| t.to_rfc3339()),
                "interrupted_at": batch.interrupted_at.map(|t| t.to_rfc3339()),
            },
        });
        Ok(EvidenceHead {
            batch_id: batch.id,
            head,
            report: batch.report,
            redactor,
        })
    }
}
