//! Account creation and testing with bounded parallelism (SPEC §4.4 steps 3–4).
//!
//! Creation comes first: new keys are created with the host's batch create, in chunks
//! (one call per chunk instead of one per key), or one by one where the host has no
//! batch create (or for a single key). Every account's intent is journaled before its
//! create call and its host id attached right after the call returns; failed writes
//! are retried with the same `Idempotency-Key` ([`relay_sub2api::retry_write`]) and
//! then resolved by name. Then each created or adopted account runs host account
//! test with the smoke model (once: the test has side effects) → account models →
//! classification, with at most `concurrency` in flight, reporting every step to the
//! observer as it happens. The tests run through the kernel's bounded parallel map
//! ([`relay_core::try_map_bounded`]).
//!
//! Every create and test call goes through one [`AdaptiveLimit`] per run, which
//! starts at `concurrency`: a host that answers 429 or 503 under load halves the
//! calls in flight and pauses them for its `Retry-After`, and the refused call is
//! made again (with the same `Idempotency-Key` for a create) instead of failing
//! its key; successes grow the limit back by one per round.

use relay_core::{
    probe_batch_account, try_map_bounded, AdaptiveLimit, Classification, ItemProgress,
    JournalEntry, NewEntry, Ports, ProbeRecord, ProviderTarget,
};
use relay_domain::naming::{account_batch_idempotency_key, account_idempotency_key};
use relay_domain::{Fingerprint, ItemStatus, ResourceState, ResourceType, Secret, Verdict};
use relay_sub2api::{
    retry_write, Account, AccountFilter, AccountUpdate, BatchCreateResult, HostError, NewAccount,
    ObjectId, WriteRetry,
};
use serde_json::{json, Value};

use crate::error::ProvisionError;
use crate::lookup::{resolve_intents, Resolution};

/// Accounts per batch create call. The host sets no count limit of its own, but its
/// idempotency store keeps at most 64 KiB of an answer (a longer one cannot be
/// replayed to a retry) and a running batch holds its key for up to 30 s; 50
/// accounts answer in about 10 KB even when every item fails.
pub(crate) const BATCH_CHUNK: usize = 50;

/// How account creates retry a failed write: as [`WriteRetry::default`], with 429s
/// and 503s left to the run's [`AdaptiveLimit`] (which pauses every worker once).
fn write_retry() -> WriteRetry {
    WriteRetry {
        defer_congestion: true,
        ..WriteRetry::default()
    }
}

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
    pub ports: &'p Ports<'a>,
    pub target: &'p ProviderTarget,
    pub batch: &'p str,
    /// The run's redaction step: every message of an item passes through it.
    pub redactor: &'p relay_domain::Redactor,
    pub group_id: ObjectId,
    /// Fingerprint of each key index.
    pub fingerprints: Vec<Fingerprint>,
    /// The batch's one model check: every account of the batch has the same model
    /// mapping, so the first test reads the model list and the others reuse it.
    pub models: std::sync::OnceLock<Option<bool>>,
}

/// An account to test: (key index, journal entry, host id).
type ToTest = (usize, i64, ObjectId);

/// Creates the accounts of every `Create` item, then tests every created or existing
/// account with at most `concurrency` tests in flight (fewer while the host pushes
/// back: see the module documentation). Stops handing out work after a journal
/// failure and returns it.
pub(crate) fn run_accounts(
    job: &AccountJob<'_, '_>,
    work: Vec<Work>,
    concurrency: usize,
) -> Result<Vec<WorkResult>, ProvisionError> {
    let mut creates = Vec::new();
    let mut to_test: Vec<ToTest> = Vec::new();
    for item in work {
        match item {
            Work::Test {
                idx,
                entry_id,
                account_id,
            } => to_test.push((idx, entry_id, account_id)),
            Work::Create {
                idx,
                key,
                stale_entry,
            } => {
                if let Some(stale) = stale_entry {
                    job.ports.journal.set_state(stale, ResourceState::Deleted)?;
                }
                creates.push((idx, key));
            }
        }
    }
    let limit = AdaptiveLimit::new(concurrency, job.ports.clock);
    let mut out = create_accounts(job, &limit, &creates, &mut to_test)?;
    to_test.sort_by_key(|t| t.0);
    out.extend(test_accounts(job, &limit, &to_test, concurrency)?);
    out.sort_by_key(|r| r.idx);
    Ok(out)
}

/// Tests `items` with at most `concurrency` in flight.
fn test_accounts(
    job: &AccountJob<'_, '_>,
    limit: &AdaptiveLimit<'_>,
    items: &[ToTest],
    concurrency: usize,
) -> Result<Vec<WorkResult>, ProvisionError> {
    try_map_bounded(items, concurrency, |&(idx, entry_id, account_id)| {
        test(job, limit, idx, entry_id, account_id)
    })
}

/// Creates the accounts of `creates` (key index, key): in batch chunks while the
/// host has a batch create, else one by one. Created and adopted accounts go to
/// `to_test`; the failed ones are returned as results.
fn create_accounts(
    job: &AccountJob<'_, '_>,
    limit: &AdaptiveLimit<'_>,
    creates: &[(usize, Secret)],
    to_test: &mut Vec<ToTest>,
) -> Result<Vec<WorkResult>, ProvisionError> {
    let mut failed = Vec::new();
    let mut batch_supported = true;
    for chunk in creates.chunks(BATCH_CHUNK) {
        let mut singles: Vec<(usize, &Secret, Option<JournalEntry>)> = Vec::new();
        if batch_supported && chunk.len() > 1 {
            match create_batch(job, limit, chunk)? {
                BatchOutcome::Done(outcomes) => {
                    for o in outcomes {
                        match o {
                            Created::Ok(t) => to_test.push(t),
                            Created::Failed(r) => failed.push(r),
                        }
                    }
                    continue;
                }
                BatchOutcome::Unsupported(intents) => {
                    batch_supported = false;
                    for ((idx, key), intent) in chunk.iter().zip(intents) {
                        singles.push((*idx, key, Some(intent)));
                    }
                }
            }
        } else {
            singles.extend(chunk.iter().map(|(idx, key)| (*idx, key, None)));
        }
        for (idx, key, intent) in singles {
            match create_single(job, limit, idx, key, intent)? {
                Created::Ok(t) => to_test.push(t),
                Created::Failed(r) => failed.push(r),
            }
        }
    }
    Ok(failed)
}

/// The create step's result for one key.
enum Created {
    /// Created or adopted: test it.
    Ok(ToTest),
    /// Not created (the host's reason in the result).
    Failed(WorkResult),
}

/// What a batch create call did.
enum BatchOutcome {
    /// One outcome per key of the chunk.
    Done(Vec<Created>),
    /// The host has no (working) batch create and created nothing: the journaled
    /// intents, in chunk order, for one-by-one creates.
    Unsupported(Vec<JournalEntry>),
}

/// Journals the intent of an account create.
fn record_intent(
    job: &AccountJob<'_, '_>,
    account: &NewAccount,
    key: &Secret,
    fp: &Fingerprint,
) -> Result<JournalEntry, ProvisionError> {
    Ok(job.ports.journal.record_intent(&NewEntry {
        resource_type: ResourceType::Account,
        logical_key: account.name.clone(),
        fingerprint: Some(fp.clone()),
        details: json!({
            "group_id": job.group_id,
            "mask": relay_domain::mask(key.expose()),
            "chat_only": job.target.chat_only(),
            "platform": job.target.platform_str(),
        }),
    })?)
}

/// Attaches a created account to its intent and reports it.
fn attach_created(
    job: &AccountJob<'_, '_>,
    idx: usize,
    intent: &JournalEntry,
    id: ObjectId,
    name: &str,
) -> Result<Created, ProvisionError> {
    job.ports
        .journal
        .attach_host_id(intent.id, id, ResourceState::Created)?;
    job.ports.observer.item(
        &job.fingerprints[idx],
        ItemProgress {
            status: ItemStatus::Created,
            account_id: Some(id),
            verdict: None,
            message: None,
            details: json!({"account_name": name}),
        },
    );
    Ok(Created::Ok((idx, intent.id, id)))
}

/// A failed create, reported.
fn create_failed(
    job: &AccountJob<'_, '_>,
    idx: usize,
    account_id: Option<ObjectId>,
    message: String,
) -> Created {
    let r = WorkResult {
        idx,
        status: ItemStatus::Failed,
        account_id,
        classification: None,
        message: Some(job.redactor.redact(&message)),
        models_include_smoke: None,
    };
    report_item(job, &job.fingerprints[idx], &r, json!({"step": "create"}));
    Created::Failed(r)
}

/// Creates one chunk with the host's batch create: every intent is journaled before
/// the call, every host id attached right after it. Results are matched to keys by
/// position and name; anything the answer does not settle is resolved by name.
fn create_batch(
    job: &AccountJob<'_, '_>,
    limit: &AdaptiveLimit<'_>,
    chunk: &[(usize, Secret)],
) -> Result<BatchOutcome, ProvisionError> {
    let ports = job.ports;
    let mut accounts = Vec::with_capacity(chunk.len());
    let mut intents = Vec::with_capacity(chunk.len());
    for (idx, key) in chunk {
        let account = job.target.new_account(key, job.group_id, job.batch);
        intents.push(record_intent(job, &account, key, &job.fingerprints[*idx])?);
        accounts.push(account);
    }
    let pairs: Vec<(i64, &Fingerprint)> = chunk
        .iter()
        .zip(&intents)
        .map(|((idx, _), intent)| (intent.id, &job.fingerprints[*idx]))
        .collect();
    let idem = account_batch_idempotency_key(job.batch, &pairs);
    let answer = limit.call(|| {
        retry_write(&write_retry(), || {
            ports.adapter.create_accounts_batch(&accounts, Some(&idem))
        })
    });
    let result: BatchCreateResult = match answer {
        Ok(r) => r,
        Err(HostError::UnsupportedRoute { .. }) => return Ok(BatchOutcome::Unsupported(intents)),
        Err(e) => {
            let message = e.to_string();
            return Ok(BatchOutcome::Done(resolve_chunk(
                job, chunk, &intents, &message,
            )?));
        }
    };
    let matches = result.results.len() == chunk.len()
        && result
            .results
            .iter()
            .zip(&accounts)
            .all(|(r, a)| r.name == a.name);
    if !matches {
        let message = format!(
            "the host's batch answer listed {} result(s) for {} account(s)",
            result.results.len(),
            chunk.len()
        );
        return Ok(BatchOutcome::Done(resolve_chunk(
            job, chunk, &intents, &message,
        )?));
    }
    let mut outcomes = Vec::with_capacity(chunk.len());
    let mut refused = Vec::new();
    for (pos, item) in result.results.iter().enumerate() {
        let idx = chunk[pos].0;
        match (item.success, item.id) {
            (true, Some(id)) => outcomes.push(Some(attach_created(
                job,
                idx,
                &intents[pos],
                id,
                &accounts[pos].name,
            )?)),
            _ => {
                refused.push(pos);
                outcomes.push(None);
            }
        }
    }
    // A refused item may still have left an account behind (the host inserts the
    // account before binding its groups): resolve those intents by name, record what
    // is found so a rollback deletes it, and report the item as failed.
    for pos in refused {
        let idx = chunk[pos].0;
        let message = result.results[pos]
            .error
            .clone()
            .unwrap_or_else(|| "the host did not create the account".to_string());
        let leftover = resolve_one(job, &intents[pos])?;
        outcomes[pos] = Some(create_failed(job, idx, leftover.ok().flatten(), message));
    }
    Ok(BatchOutcome::Done(outcomes.into_iter().flatten().collect()))
}

/// Resolves one intent by name: `Ok(Ok(Some(id)))` when an account with the name was
/// found (and adopted into the journal), `Ok(Ok(None))` when absent, `Ok(Err(_))`
/// when the lookup failed (the intent stays for a resume or rollback).
fn resolve_one(
    job: &AccountJob<'_, '_>,
    intent: &JournalEntry,
) -> Result<Result<Option<ObjectId>, String>, ProvisionError> {
    match resolve_intents(
        job.ports.adapter,
        job.ports.journal,
        std::slice::from_ref(intent),
    ) {
        Ok(r) => Ok(Ok(match r.first().map(|r| &r.resolution) {
            Some(Resolution::Adopted { host_id }) | Some(Resolution::Conflict { host_id, .. }) => {
                Some(*host_id)
            }
            _ => None,
        })),
        Err(ProvisionError::Host { source, .. }) => Ok(Err(source.to_string())),
        Err(other) => Err(other),
    }
}

/// Resolves the intents of creates that gave no usable answer: an account found by
/// name is adopted (and tested), a missing one is a failed create.
fn resolve_chunk(
    job: &AccountJob<'_, '_>,
    chunk: &[(usize, Secret)],
    intents: &[JournalEntry],
    message: &str,
) -> Result<Vec<Created>, ProvisionError> {
    let mut out = Vec::with_capacity(chunk.len());
    for ((idx, _), intent) in chunk.iter().zip(intents) {
        out.push(match resolve_one(job, intent)? {
            Ok(Some(id)) => match bind_to_group(job, id) {
                Ok(()) => adopted(job, *idx, intent, id, message),
                Err(e) => create_failed(
                    job,
                    *idx,
                    Some(id),
                    format!(
                        "{message} (the account found by name is not in group {} and could not be bound to it: {e})",
                        job.group_id
                    ),
                ),
            },
            Ok(None) => create_failed(job, *idx, None, message.to_string()),
            Err(lookup) => create_failed(
                job,
                *idx,
                None,
                format!("{message} (and the account could not be looked up: {lookup})"),
            ),
        });
    }
    Ok(out)
}

/// The newest account named `name` on the host, if any.
fn newest_by_name(job: &AccountJob<'_, '_>, name: &str) -> Result<Option<Account>, HostError> {
    Ok(job
        .ports
        .adapter
        .list_accounts(&AccountFilter {
            name_prefix: Some(name.to_string()),
            group_id: None,
            platform: None,
        })?
        .into_iter()
        .filter(|a| a.name == name)
        .max_by_key(|a| a.id))
}

/// Binds an account found by name to the provider's group when it is not in it: a
/// create that failed on the host after inserting the account (a database error
/// while binding its groups) leaves it behind without groups, where no user's call
/// can reach it.
fn bind_to_group(job: &AccountJob<'_, '_>, id: ObjectId) -> Result<(), HostError> {
    let account = job.ports.adapter.get_account(id)?;
    if account.group_ids.contains(&job.group_id) {
        return Ok(());
    }
    let mut groups = account.group_ids;
    groups.push(job.group_id);
    job.ports.adapter.update_account(
        id,
        &AccountUpdate {
            group_ids: Some(groups),
            ..AccountUpdate::default()
        },
    )?;
    Ok(())
}

/// An account found by name after a create without a usable answer.
fn adopted(
    job: &AccountJob<'_, '_>,
    idx: usize,
    intent: &JournalEntry,
    id: ObjectId,
    message: &str,
) -> Created {
    job.ports.observer.item(
        &job.fingerprints[idx],
        ItemProgress {
            status: ItemStatus::Created,
            account_id: Some(id),
            verdict: None,
            message: Some(job.redactor.redact(message)),
            details: json!({"account_name": intent.logical_key, "adopted": true}),
        },
    );
    Created::Ok((idx, intent.id, id))
}

/// Creates one account (journaling the intent first unless given), retrying with
/// the same `Idempotency-Key` ([`relay_sub2api::retry_write`]: it waits out the
/// host's backoff after a failed execution; a 429/503 is waited out by `limit`),
/// and attaches the host id. After the
/// retries the account is looked up by name: the host may have created it before
/// failing to answer.
fn create_single(
    job: &AccountJob<'_, '_>,
    limit: &AdaptiveLimit<'_>,
    idx: usize,
    key: &Secret,
    intent: Option<JournalEntry>,
) -> Result<Created, ProvisionError> {
    let fp = &job.fingerprints[idx];
    let account = job.target.new_account(key, job.group_id, job.batch);
    let intent = match intent {
        Some(i) => i,
        None => record_intent(job, &account, key, fp)?,
    };
    let idem = account_idempotency_key(job.batch, fp, intent.id);
    let mut attempts = 0;
    let created: Result<Account, HostError> = limit.call(|| {
        retry_write(&write_retry(), || {
            attempts += 1;
            // The host inserts the account before it binds the groups: a failed
            // create may have left it behind, and its retry would insert a second
            // one. Look for it by name before trying again.
            if attempts > 1 {
                if let Some(found) = newest_by_name(job, &account.name)? {
                    return Ok(found);
                }
            }
            job.ports.adapter.create_account(&account, Some(&idem))
        })
    });
    match created.and_then(|a| bind_to_group(job, a.id).map(|()| a)) {
        Ok(a) => attach_created(job, idx, &intent, a.id, &a.name),
        Err(e) => Ok(
            resolve_chunk(job, &[(idx, key.clone())], &[intent], &e.to_string())?
                .pop()
                .expect("one intent, one outcome"),
        ),
    }
}

/// Tests an account once (a call the host refused with 429/503 is made again after
/// the limit's pause), reads its models and classifies.
fn test(
    job: &AccountJob<'_, '_>,
    limit: &AdaptiveLimit<'_>,
    idx: usize,
    entry_id: i64,
    account_id: ObjectId,
) -> Result<WorkResult, ProvisionError> {
    let ports = job.ports;
    let fp = &job.fingerprints[idx];
    let smoke = job.target.provider.smoke_test_model.as_str();
    let report = |r: ProbeRecord| ports.observer.probe(r);
    let probe = probe_batch_account(
        ports.adapter,
        &report,
        account_id,
        smoke,
        &Value::Null,
        job.redactor,
        limit,
        &job.models,
    );
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
    // One entry by id: reading the provider's whole journal here made a batch's
    // cost grow with the square of its keys.
    let entry = ports.journal.get(entry_id)?;
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
