//! Account creation and testing with bounded parallelism (SPEC §4.4 steps 3–4).
//!
//! Each work item runs create → host account test with the smoke model (once: the
//! test has side effects) → account models → classification, reporting every step
//! to the observer as it happens. Workers share a queue (an atomic cursor) inside
//! `std::thread::scope`; the adapter and the ports are `Sync`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::Duration;

use relay_access::ProbeRecord;
use relay_domain::naming::account_idempotency_key;
use relay_domain::{Fingerprint, ItemStatus, ResourceState, ResourceType, Secret, Verdict};
use relay_sub2api::{Account, HostError, ObjectId};
use serde_json::{json, Value};

use crate::classify::Classification;
use crate::error::ProvisionError;
use crate::lookup::{resolve_intents, Resolution};
use crate::ports::{ItemProgress, NewEntry, ProvisionPorts};
use crate::probe_account::probe_account;
use crate::target::ProviderTarget;

/// Attempts of an account create (same `Idempotency-Key` each time).
const CREATE_ATTEMPTS: u32 = 3;
/// Pause between create attempts (multiplied by the attempt number).
const CREATE_RETRY_PAUSE: Duration = Duration::from_millis(300);

/// One unit of account work.
#[derive(Debug, Clone)]
pub(crate) enum Work {
    /// Create the account of a new key, then test it.
    Create {
        /// Index into the report's keys.
        idx: usize,
        /// The key.
        key: Secret,
        /// A stale journal entry of the same key whose account is gone.
        stale_entry: Option<i64>,
    },
    /// Test an account that exists (adopted or created before an interruption).
    Test {
        /// Index into the report's keys.
        idx: usize,
        /// Its journal entry.
        entry_id: i64,
        /// Host account id.
        account_id: ObjectId,
    },
}

impl Work {
    fn idx(&self) -> usize {
        match self {
            Work::Create { idx, .. } | Work::Test { idx, .. } => *idx,
        }
    }
}

/// What one work item produced.
#[derive(Debug, Clone)]
pub(crate) struct WorkResult {
    pub idx: usize,
    pub status: ItemStatus,
    pub account_id: Option<ObjectId>,
    pub classification: Option<Classification>,
    pub message: Option<String>,
    pub models_include_smoke: Option<bool>,
}

/// Shared inputs of the workers.
pub(crate) struct AccountJob<'p, 'a> {
    pub ports: &'p ProvisionPorts<'a>,
    pub target: &'p ProviderTarget,
    pub batch: &'p str,
    pub group_id: ObjectId,
    /// Fingerprint of each key index.
    pub fingerprints: Vec<Fingerprint>,
}

/// Runs every work item with at most `concurrency` in flight. Stops handing out
/// work after a journal failure and returns it.
pub(crate) fn run_accounts(
    job: &AccountJob<'_, '_>,
    work: Vec<Work>,
    concurrency: usize,
) -> Result<Vec<WorkResult>, ProvisionError> {
    let workers = concurrency.max(1).min(work.len());
    let cursor = AtomicUsize::new(0);
    let abort = AtomicBool::new(false);
    let results: Mutex<Vec<WorkResult>> = Mutex::new(Vec::new());
    let fatal: Mutex<Option<ProvisionError>> = Mutex::new(None);
    thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                if abort.load(Ordering::SeqCst) {
                    break;
                }
                let i = cursor.fetch_add(1, Ordering::SeqCst);
                let Some(item) = work.get(i) else { break };
                match process(job, item) {
                    Ok(r) => results.lock().unwrap_or_else(|p| p.into_inner()).push(r),
                    Err(e) => {
                        abort.store(true, Ordering::SeqCst);
                        fatal
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .get_or_insert(e);
                        break;
                    }
                }
            });
        }
    });
    if let Some(e) = fatal.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let mut out = results.into_inner().unwrap_or_else(|p| p.into_inner());
    out.sort_by_key(|r| r.idx);
    Ok(out)
}

fn retryable_create(e: &HostError) -> bool {
    e.is_transient() || matches!(e, HostError::Host { status, .. } if *status >= 500)
}

fn process(job: &AccountJob<'_, '_>, item: &Work) -> Result<WorkResult, ProvisionError> {
    let idx = item.idx();
    let fp = &job.fingerprints[idx];
    let (entry_id, account_id) = match item {
        Work::Test {
            entry_id,
            account_id,
            ..
        } => (*entry_id, *account_id),
        Work::Create {
            key, stale_entry, ..
        } => {
            if let Some(stale) = stale_entry {
                job.ports
                    .journal
                    .set_state(*stale, ResourceState::Deleted)?;
            }
            match create(job, key, fp)? {
                Ok(ids) => ids,
                Err(message) => {
                    let r = WorkResult {
                        idx,
                        status: ItemStatus::Failed,
                        account_id: None,
                        classification: None,
                        message: Some(message),
                        models_include_smoke: None,
                    };
                    report_item(job, fp, &r, json!({"step": "create"}));
                    return Ok(r);
                }
            }
        }
    };
    test(job, idx, entry_id, account_id)
}

/// Journals the intent, creates the account (retrying with the same
/// `Idempotency-Key`) and attaches the host id. `Ok(Err(message))` when the host
/// refused.
fn create(
    job: &AccountJob<'_, '_>,
    key: &Secret,
    fp: &Fingerprint,
) -> Result<Result<(i64, ObjectId), String>, ProvisionError> {
    let ports = job.ports;
    let account = job.target.new_account(key, job.group_id, job.batch);
    let intent = ports.journal.record_intent(&NewEntry {
        resource_type: ResourceType::Account,
        logical_key: account.name.clone(),
        fingerprint: Some(fp.clone()),
        details: json!({
            "group_id": job.group_id,
            "mask": relay_domain::mask(key.expose()),
            "chat_only": job.target.chat_only(),
        }),
    })?;
    let idem = account_idempotency_key(job.batch, fp);
    let mut attempt = 0;
    let created: Result<Account, HostError> = loop {
        attempt += 1;
        match ports.adapter.create_account(&account, Some(&idem)) {
            Ok(a) => break Ok(a),
            Err(e) if attempt < CREATE_ATTEMPTS && retryable_create(&e) => {
                thread::sleep(CREATE_RETRY_PAUSE * attempt);
            }
            Err(e) => break Err(e),
        }
    };
    match created {
        Ok(a) => {
            ports
                .journal
                .attach_host_id(intent.id, a.id, ResourceState::Created)?;
            ports.observer.item(
                fp,
                ItemProgress {
                    status: ItemStatus::Created,
                    account_id: Some(a.id),
                    verdict: None,
                    message: None,
                    details: json!({"account_name": a.name}),
                },
            );
            Ok(Ok((intent.id, a.id)))
        }
        Err(e) => {
            // The host may have created it before failing to answer: look it up by
            // name; the lookup adopts it, or marks the intent absent.
            let resolved =
                resolve_intents(ports.adapter, ports.journal, std::slice::from_ref(&intent));
            match resolved {
                Ok(r) => match r.first().map(|r| &r.resolution) {
                    Some(Resolution::Adopted { host_id })
                    | Some(Resolution::Conflict { host_id, .. }) => {
                        ports.observer.item(
                            fp,
                            ItemProgress {
                                status: ItemStatus::Created,
                                account_id: Some(*host_id),
                                verdict: None,
                                message: Some(e.to_string()),
                                details: json!({"account_name": account.name, "adopted": true}),
                            },
                        );
                        Ok(Ok((intent.id, *host_id)))
                    }
                    _ => Ok(Err(e.to_string())),
                },
                // The intent stays unresolved; a resume or rollback resolves it.
                Err(ProvisionError::Host { source, .. }) => Ok(Err(format!(
                    "{e} (and the account could not be looked up: {source})"
                ))),
                Err(other) => Err(other),
            }
        }
    }
}

/// Tests an account once, reads its models and classifies.
fn test(
    job: &AccountJob<'_, '_>,
    idx: usize,
    entry_id: i64,
    account_id: ObjectId,
) -> Result<WorkResult, ProvisionError> {
    let ports = job.ports;
    let fp = &job.fingerprints[idx];
    let smoke = job.target.provider.smoke_test_model.as_str();
    let report = |r: ProbeRecord| ports.observer.probe(r);
    let probe = probe_account(ports.adapter, &report, account_id, smoke, &Value::Null);
    let classification = probe.classification;
    let message = probe.message;
    let includes = probe.models_include_smoke;
    let (model_tested, http_status) = (probe.model_tested, probe.http_status);
    let status = match classification.verdict {
        Verdict::Passed => ItemStatus::Passed,
        Verdict::Warning => ItemStatus::Warning,
        Verdict::Failed => ItemStatus::Failed,
    };
    let r = WorkResult {
        idx,
        status,
        account_id: Some(account_id),
        classification: Some(classification),
        message: (!message.is_empty()).then_some(message),
        models_include_smoke: includes,
    };
    // Remember the test in the journal, so a resume does not test again.
    let entry = ports
        .journal
        .list_provider()?
        .into_iter()
        .find(|e| e.id == entry_id);
    if let Some(entry) = entry {
        let mut details = entry.details.clone();
        if let Some(obj) = details.as_object_mut() {
            obj.insert("tested".into(), json!(true));
            obj.insert("verdict".into(), json!(classification.verdict));
            obj.insert("reason".into(), json!(classification.reason));
            obj.insert(
                "needs_gateway_confirmation".into(),
                json!(classification.needs_gateway_confirmation),
            );
            obj.insert("host_message".into(), json!(r.message));
            obj.insert("models_include_smoke".into(), json!(includes));
        }
        ports.journal.set_details(entry_id, &details)?;
    }
    report_item(
        job,
        fp,
        &r,
        json!({
            "reason": classification.reason,
            "needs_gateway_confirmation": classification.needs_gateway_confirmation,
            "models_include_smoke": includes,
            "model_tested": model_tested,
            "http_status": http_status,
        }),
    );
    Ok(r)
}

fn report_item(job: &AccountJob<'_, '_>, fp: &Fingerprint, r: &WorkResult, details: Value) {
    job.ports.observer.item(
        fp,
        ItemProgress {
            status: r.status,
            account_id: r.account_id,
            verdict: r
                .classification
                .map(|c| c.verdict)
                .or((r.status == ItemStatus::Failed).then_some(Verdict::Failed)),
            message: r.message.clone(),
            details,
        },
    );
}
