//! Resume of an interrupted batch (SPEC §3, §8 crash safety): resolve the intents
//! left without a host id, then finish the import with the same pipeline.

use std::collections::{HashMap, HashSet};

use relay_core::{
    AccessCloser, ItemProgress, JournalEntry, Ports, ProviderTarget, RedactingObserver, TestReason,
};
use relay_domain::{Fingerprint, ItemStatus, KeyPlan, ResourceType, Secret, Verdict};
use serde_json::Value;

use crate::accounts::Work;
use crate::error::ProvisionError;
use crate::import::{check_scope, empty_report, validate, Pipeline};
use crate::lookup::{resolve_intents, Resolution};
use crate::preview::{key_lines, settle_platform};
use crate::report::{ImportReport, ImportRequest, KeyResult};

/// Message of a key whose account was not created before the interruption and
/// that was not supplied again.
pub const KEY_NOT_SUPPLIED: &str =
    "key not created before the interruption; supply it again to resume";

/// One key of the interrupted batch, as the application stored it (fingerprint and
/// mask only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumeItem {
    /// 1-based position in the original request.
    pub line: usize,
    /// Fingerprint of the key (the application stores no key).
    pub fingerprint: Fingerprint,
    /// Mask of the key, for display.
    pub mask: String,
    /// The preview plan of the key.
    pub plan: KeyPlan,
}

/// What to resume.
#[derive(Debug, Clone, PartialEq)]
pub struct ResumeRequest {
    /// The original request's settings; `keys` holds the keys supplied again
    /// (may be empty: keys whose account exists need no key).
    pub import: ImportRequest,
    /// The batch's items.
    pub items: Vec<ResumeItem>,
}

/// Resumes the journal's (interrupted) batch: resolves its intents (one match on
/// the host → adopted, none → absent, several → the newest adopted and a conflict
/// reported), tests adopted or untested accounts, creates the accounts of keys
/// supplied again, fails items whose key is missing, then ensures the resources,
/// retires stale accounts and closes access like an import. Strict mode rolls the
/// batch back on any failure.
pub fn resume_batch(
    ports: &Ports<'_>,
    access: &dyn AccessCloser,
    target: &ProviderTarget,
    request: &ResumeRequest,
) -> Result<ImportReport, ProvisionError> {
    // The keys supplied again, and the fingerprints of every key of the batch (the
    // host may quote a key that was not supplied again).
    let supplied = key_lines(&request.import.keys);
    let mut redactor = supplied.redactor(request.import.supplied_key.as_ref());
    for item in &request.items {
        redactor.add_fingerprint(&item.fingerprint);
    }
    let observer = RedactingObserver {
        inner: ports.observer,
        redactor: &redactor,
    };
    let ports = &ports.with_observer(&observer);
    let batch = check_scope(ports.journal, target)?;
    validate(&request.import)?;
    let settled = settle_platform(ports.adapter, target, request.import.access_mode)?;
    let target = &settled;
    let batch_entries = ports.journal.list_batch(&batch)?;
    let resolved = resolve_intents(ports.adapter, ports.journal, &batch_entries)?;
    let mut report = empty_report(target, &request.import, batch.clone());
    for r in &resolved {
        if let Resolution::Conflict {
            host_id,
            candidates,
        } = &r.resolution
        {
            report.warnings.push(format!(
                "{} {}: {} objects have this name on the host ({candidates:?}); adopted the newest ({host_id})",
                r.resource_type,
                r.name,
                candidates.len()
            ));
        }
    }
    report.resolved_intents = resolved;

    let supplied_keys: HashMap<&Fingerprint, &Secret> = supplied
        .accepted
        .iter()
        .map(|a| (&a.fingerprint, &a.key))
        .collect();
    let provider_entries = ports.journal.list_provider()?;
    // The batch's own live accounts by key (the newest entry of a key wins).
    let own_accounts: HashMap<&Fingerprint, &JournalEntry> = provider_entries
        .iter()
        .filter(|e| {
            e.resource_type == ResourceType::Account
                && e.batch_id.as_ref() == Some(&batch)
                && e.is_owned_live()
        })
        .filter_map(|e| e.fingerprint.as_ref().map(|fp| (fp, e)))
        .collect();
    let mut items = request.items.clone();
    items.sort_by_key(|i| i.line);
    let mut work = Vec::new();
    for item in &items {
        let idx = report.keys.len();
        let mut k = KeyResult {
            line: item.line,
            fingerprint: item.fingerprint.clone(),
            mask: item.mask.clone(),
            plan: item.plan,
            status: ItemStatus::Pending,
            account_id: None,
            account_name: target.account_name(&item.fingerprint),
            verdict: None,
            reason: None,
            host_message: None,
            models_include_smoke: None,
            needs_gateway_confirmation: false,
        };
        if item.plan == KeyPlan::DuplicateInRequest {
            k.status = ItemStatus::DuplicateInRequest;
            report.keys.push(k);
            continue;
        }
        if let Some(entry) = own_accounts.get(&item.fingerprint) {
            let account_id = entry.host_resource_id.expect("live entry has an id");
            k.account_id = Some(account_id);
            if entry.details.get("tested").and_then(Value::as_bool) == Some(true) {
                restore_test(&mut k, &entry.details);
            } else {
                work.push(Work::Test {
                    idx,
                    entry_id: entry.id,
                    account_id,
                });
            }
        } else if let Some(entry) = ports.journal.find_live_account(&item.fingerprint)? {
            k.status = ItemStatus::AlreadyImported;
            k.account_id = entry.host_resource_id;
        } else if let Some(key) = supplied_keys.get(&item.fingerprint) {
            work.push(Work::Create {
                idx,
                key: (*key).clone(),
                stale_entry: None,
            });
        } else {
            k.status = ItemStatus::Failed;
            k.verdict = Some(Verdict::Failed);
            k.host_message = Some(KEY_NOT_SUPPLIED.to_string());
            ports.observer.item(
                &k.fingerprint,
                ItemProgress {
                    status: ItemStatus::Failed,
                    account_id: None,
                    verdict: Some(Verdict::Failed),
                    message: Some(KEY_NOT_SUPPLIED.to_string()),
                    details: serde_json::json!({"step": "resume"}),
                },
            );
        }
        report.keys.push(k);
    }
    let batch_keys: HashSet<&Fingerprint> = items.iter().map(|i| &i.fingerprint).collect();
    for extra in supplied
        .accepted
        .iter()
        .filter(|a| !batch_keys.contains(&a.fingerprint))
    {
        report.warnings.push(format!(
            "key {} was not part of batch {batch}; ignored",
            extra.mask
        ));
    }
    Pipeline {
        ports,
        access,
        target,
        request: &request.import,
        report,
        ensured: Vec::new(),
        redactor: &redactor,
    }
    .run(work)
}

/// Restores a key's test outcome from its account's journal details.
fn restore_test(k: &mut KeyResult, details: &Value) {
    let verdict: Option<Verdict> = details
        .get("verdict")
        .and_then(|v| serde_json::from_value(v.clone()).ok());
    let reason: Option<TestReason> = details
        .get("reason")
        .and_then(|v| serde_json::from_value(v.clone()).ok());
    k.verdict = verdict;
    k.reason = reason;
    k.status = match verdict {
        Some(Verdict::Passed) => ItemStatus::Passed,
        Some(Verdict::Warning) => ItemStatus::Warning,
        Some(Verdict::Failed) => ItemStatus::Failed,
        None => ItemStatus::Created,
    };
    k.needs_gateway_confirmation = details
        .get("needs_gateway_confirmation")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    k.host_message = details
        .get("host_message")
        .and_then(Value::as_str)
        .map(str::to_string);
    k.models_include_smoke = details.get("models_include_smoke").and_then(Value::as_bool);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key() -> KeyResult {
        KeyResult {
            line: 1,
            fingerprint: Fingerprint::of("k"),
            mask: "…".into(),
            plan: KeyPlan::New,
            status: ItemStatus::Pending,
            account_id: Some(3),
            account_name: "p-x".into(),
            verdict: None,
            reason: None,
            host_message: None,
            models_include_smoke: None,
            needs_gateway_confirmation: false,
        }
    }

    #[test]
    fn a_recorded_test_is_restored_without_testing_again() {
        let mut k = key();
        restore_test(
            &mut k,
            &json!({
                "tested": true,
                "verdict": "warning",
                "reason": "not_found_pending_gateway",
                "needs_gateway_confirmation": true,
                "host_message": "API returned 404: nope",
                "models_include_smoke": true,
            }),
        );
        assert_eq!(k.status, ItemStatus::Warning);
        assert_eq!(k.reason, Some(TestReason::NotFoundPendingGateway));
        assert!(k.needs_gateway_confirmation);
        assert_eq!(k.host_message.as_deref(), Some("API returned 404: nope"));
        assert_eq!(k.models_include_smoke, Some(true));
        let mut k = key();
        restore_test(&mut k, &json!({"tested": true}));
        assert_eq!(k.status, ItemStatus::Created);
    }
}
