//! The view of an import batch (`api::BatchView`) and its evidence document
//! (`api::BatchEvidence`), written as streams.
//!
//! A batch of 10,000 keys has 10,000 items, as many recorded accounts and probes: its
//! view is tens of megabytes of JSON. Built whole — store records, then the
//! contract's types, then the encoded bytes — it held three copies of itself at once.
//! Here the batch record is read first (a missing batch still answers `404`, a misfit
//! `500`, before anything is sent); then the items, host objects and probes are read
//! from the store page by page ([`PAGE`] rows) and each row is read into its contract
//! type, encoded and passed through the application's redaction step on its own, and
//! written to the body as the connection sends it ([`crate::stream`]); the few access
//! proofs and reconcile runs follow. The document is the same as
//! `serde_json::to_vec(&api::BatchView {…})`: the fields in the type's order, every
//! row exactly once, in the order of [`relay_app::App::batch_view`]. The evidence
//! document ([`evidence`]) is written the same way, its rows through the evidence's
//! own redactor.

use crate::contract::contract;
use crate::error::ApiError;
use crate::router::ApiResponse;
use hyper::StatusCode;
use relay_api_types as api;
use relay_app::App;
use relay_domain::{BatchId, Redactor};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::io::{self, Write};
use std::sync::Arc;

/// Rows read from the store at once.
pub const PAGE: u32 = 500;

/// The view of batch `batch_id` as a streamed answer with `status`, with `rollback`
/// (the rollback just run) at its end when given.
pub fn answer(
    app: &Arc<App>,
    status: StatusCode,
    batch_id: &str,
    rollback: Option<api::RollbackReport>,
) -> Result<ApiResponse, ApiError> {
    let redactor = app.redactor();
    let batch = app.batch(batch_id)?;
    let mut head = b"{\"batch\":".to_vec();
    head.extend(piece::<api::BatchRecord>(&batch, &redactor)?);
    let id = batch.id;
    let app = app.clone();
    Ok(ApiResponse::streamed(
        status,
        Box::new(move |w| {
            write_rows(&app, &id, &head, rollback.as_ref(), &redactor, w)
                .map_err(|e| io::Error::new(e.kind(), redactor.redact(&e.to_string())))
        }),
    ))
}

/// Everything after the batch record (`head`, already encoded).
fn write_rows(
    app: &App,
    id: &BatchId,
    head: &[u8],
    rollback: Option<&api::RollbackReport>,
    redactor: &Redactor,
    w: &mut dyn Write,
) -> io::Result<()> {
    w.write_all(head)?;
    w.write_all(b",\"items\":")?;
    write_items(app, id, redactor, w)?;
    w.write_all(b",\"resources\":")?;
    write_resources(app, id, redactor, w)?;
    w.write_all(b",\"probes\":")?;
    write_probes(app, id, redactor, w)?;
    w.write_all(b",\"closures\":")?;
    write_closures(app, id, redactor, w)?;
    w.write_all(b",\"reconcile_runs\":")?;
    write_reconcile_runs(app, id, redactor, w)?;
    if let Some(rollback) = rollback {
        w.write_all(b",\"rollback\":")?;
        w.write_all(&piece::<api::RollbackReport>(rollback, redactor).map_err(failed)?)?;
    }
    w.write_all(b"}")
}

/// The evidence document of batch `batch_id` (`api::BatchEvidence`) as a streamed
/// answer: its head (what was asked, the host, pack, provider and batch) first, then
/// the keys, host objects and probes page by page, the access proofs, the stored
/// report and the reconcile runs; every piece through the evidence's redactor (the
/// application's, plus the batch keys' fingerprints).
pub fn evidence(app: &Arc<App>, batch_id: &str) -> Result<ApiResponse, ApiError> {
    let evidence = app.batch_evidence_head(batch_id)?;
    let (doc, redactor) = (&evidence.head, &evidence.redactor);
    let mut head = Vec::new();
    let mut field = |name: &str, encoded: Vec<u8>| {
        head.extend_from_slice(if head.is_empty() { b"{" } else { b"," });
        head.extend_from_slice(format!("\"{name}\":").as_bytes());
        head.extend(encoded);
    };
    field(
        "format",
        piece::<api::EvidenceFormat>(&doc["format"], redactor)?,
    );
    field(
        "kind",
        piece::<api::ImportBatchKind>(&doc["kind"], redactor)?,
    );
    field(
        "generated_at",
        piece::<String>(&doc["generated_at"], redactor)?,
    );
    field("host", piece::<api::EvidenceHost>(&doc["host"], redactor)?);
    field(
        "pack",
        piece::<api::BatchEvidencePack>(&doc["pack"], redactor)?,
    );
    field(
        "provider",
        piece::<api::BatchEvidenceProvider>(&doc["provider"], redactor)?,
    );
    field(
        "asked",
        piece::<api::BatchRequestRecord>(&doc["asked"], redactor)?,
    );
    field(
        "batch",
        piece::<api::BatchEvidenceBatch>(&doc["batch"], redactor)?,
    );
    let report = piece::<Option<api::BatchReport>>(&evidence.report, redactor)?;
    let app = app.clone();
    Ok(ApiResponse::streamed(
        StatusCode::OK,
        Box::new(move |w| {
            let (id, redactor) = (&evidence.batch_id, &evidence.redactor);
            let mut body = || -> io::Result<()> {
                w.write_all(&head)?;
                w.write_all(b",\"keys\":")?;
                write_items(&app, id, redactor, w)?;
                w.write_all(b",\"host_objects\":")?;
                write_resources(&app, id, redactor, w)?;
                w.write_all(b",\"probes\":")?;
                write_probes(&app, id, redactor, w)?;
                w.write_all(b",\"access_proofs\":")?;
                write_closures(&app, id, redactor, w)?;
                w.write_all(b",\"report\":")?;
                w.write_all(&report)?;
                w.write_all(b",\"reconcile_runs\":")?;
                write_reconcile_runs(&app, id, redactor, w)?;
                w.write_all(b",\"audit_events\":")?;
                write_pages::<api::AuditEvent, _, _>(
                    w,
                    redactor,
                    |after| app.audit_events_of(id.as_str(), after, PAGE),
                    |event| event.seq,
                )?;
                w.write_all(b"}")
            };
            body().map_err(|e| io::Error::new(e.kind(), redactor.redact(&e.to_string())))
        }),
    ))
}

/// The batch's items, by line, as a JSON array.
fn write_items(app: &App, id: &BatchId, redactor: &Redactor, w: &mut dyn Write) -> io::Result<()> {
    write_pages::<api::BatchItemRecord, _, _>(
        w,
        redactor,
        |after| app.batch_items_page(id, after, PAGE),
        |item| item.seq,
    )
}

/// The host objects recorded for the batch, by row id, as a JSON array.
fn write_resources(
    app: &App,
    id: &BatchId,
    redactor: &Redactor,
    w: &mut dyn Write,
) -> io::Result<()> {
    write_pages::<api::ResourceRecord, _, _>(
        w,
        redactor,
        |after| app.batch_resources_page(id, after, PAGE),
        |resource| resource.id,
    )
}

/// The probes run for the batch, by row id, as a JSON array.
fn write_probes(app: &App, id: &BatchId, redactor: &Redactor, w: &mut dyn Write) -> io::Result<()> {
    write_pages::<api::ProbeResultRecord, _, _>(
        w,
        redactor,
        |after| app.batch_probes_page(id, after, PAGE),
        |probe| probe.id,
    )
}

/// Rows read `PAGE` at a time (`page(after)`: the rows after the cursor `after`,
/// in cursor order), each written as the contract's type `T`, as one JSON array.
fn write_pages<T, R, K>(
    w: &mut dyn Write,
    redactor: &Redactor,
    mut page: impl FnMut(K) -> relay_app::AppResult<Vec<R>>,
    cursor: impl Fn(&R) -> K,
) -> io::Result<()>
where
    T: DeserializeOwned + Serialize,
    R: Serialize,
    K: Default,
{
    let mut list = List::open(w)?;
    let mut after = K::default();
    loop {
        let rows = page(after).map_err(failed)?;
        for row in &rows {
            list.push::<T>(w, row, redactor)?;
        }
        match rows.last() {
            Some(last) if rows.len() == PAGE as usize => after = cursor(last),
            _ => return list.close(w),
        }
    }
}

/// The access proofs the batch recorded (a few), as a JSON array.
fn write_closures(
    app: &App,
    id: &BatchId,
    redactor: &Redactor,
    w: &mut dyn Write,
) -> io::Result<()> {
    let mut list = List::open(w)?;
    for closure in &app.batch_closures(id).map_err(failed)? {
        list.push::<api::AccessClosureRecord>(w, closure, redactor)?;
    }
    list.close(w)
}

/// The reconcile runs scoped to the batch, as a JSON array.
fn write_reconcile_runs(
    app: &App,
    id: &BatchId,
    redactor: &Redactor,
    w: &mut dyn Write,
) -> io::Result<()> {
    let mut list = List::open(w)?;
    for run in &app.batch_reconcile_runs(id).map_err(failed)? {
        list.push::<api::ReconcileRunRecord>(w, run, redactor)?;
    }
    list.close(w)
}

/// The elements of one JSON array being written: a comma before each but the first.
struct List {
    written: bool,
}

impl List {
    fn open(w: &mut dyn Write) -> io::Result<Self> {
        w.write_all(b"[")?;
        Ok(List { written: false })
    }

    fn close(self, w: &mut dyn Write) -> io::Result<()> {
        w.write_all(b"]")
    }

    fn push<T: DeserializeOwned + Serialize>(
        &mut self,
        w: &mut dyn Write,
        value: &impl Serialize,
        redactor: &Redactor,
    ) -> io::Result<()> {
        if self.written {
            w.write_all(b",")?;
        }
        self.written = true;
        w.write_all(&piece::<T>(value, redactor).map_err(failed)?)
    }
}

/// `value` read into the contract's type `T`, encoded, through `redactor`.
fn piece<T: DeserializeOwned + Serialize>(
    value: &impl Serialize,
    redactor: &Redactor,
) -> Result<Vec<u8>, ApiError> {
    let typed: T = contract(value)?;
    let text = serde_json::to_string(&typed)
        .map_err(|e| ApiError::internal(format!("cannot encode the response: {e}")))?;
    match redactor.redact_json_text(&text) {
        Some(clean) => Ok(clean.into_bytes()),
        None => Ok(text.into_bytes()),
    }
}

/// A failure part-way through the body: the connection is cut ([`crate::stream`]).
fn failed(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}
