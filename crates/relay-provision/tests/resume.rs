//! Crash recovery: resume and rollback of interrupted batches against the mock.

use relay_access::AccessClosure;
use relay_core::*;
use relay_domain::{
    mask, AccessMode, AccessStatus, BatchStatus, Fingerprint, ImportMode, ItemStatus, KeyPlan,
    ResourceState, ResourceType, Secret,
};
use relay_provision::*;
use relay_sub2api::HostAdapter;
use relay_testkit::provision::*;
use serde_json::json;

const GOOD_1: &str = "sk-good-0001aaaaaaaaaaaaaaaaaaaaaaaa";
const GOOD_2: &str = "sk-good-0002bbbbbbbbbbbbbbbbbbbbbbbb";

fn item(line: usize, key: &str) -> ResumeItem {
    ResumeItem {
        line,
        fingerprint: Fingerprint::of(key),
        mask: mask(key),
        plan: KeyPlan::New,
    }
}

#[test]
fn a_crash_between_create_and_attach_is_adopted_on_resume_and_rolled_back_cleanly() {
    let env = Env::start();
    let before = env.objects();
    let target = env.target();
    let mut req = request(&[GOOD_1], ImportMode::Strict, AccessMode::Subscription);
    req.concurrency = 1;
    // Writes: group intent+attach, channel intent+attach, plan intent+attach,
    // account intent; the account's attach (8th write) fails like a crash.
    env.journal.fail_writes_after(Some(7));
    let err = import(&env.ports(&env.journal), &AccessClosure, &target, &req).unwrap_err();
    assert!(matches!(err, ProvisionError::Journal(_)), "{err:?}");
    let accounts = env.list("accounts");
    assert_eq!(accounts.len(), 1, "the account exists on the host");
    let intent = env
        .journal
        .entries()
        .into_iter()
        .find(|e| e.resource_type == ResourceType::Account)
        .unwrap();
    assert_eq!(intent.state, ResourceState::Intent);
    assert_eq!(intent.host_resource_id, None);

    // Restart: the journal works again; resume without supplying the key.
    env.journal.fail_writes_after(None);
    let mut again = req.clone();
    again.keys = Secret::new("");
    let report = resume_batch(
        &env.ports(&env.journal),
        &AccessClosure,
        &target,
        &ResumeRequest {
            import: again,
            items: vec![item(1, GOOD_1)],
        },
    )
    .unwrap();
    assert_eq!(report.outcome, BatchStatus::Succeeded, "{report:#?}");
    assert_eq!(report.access.status, AccessStatus::SubscriptionReady);
    let adopted = &report.resolved_intents[0];
    assert_eq!(adopted.resource_type, ResourceType::Account);
    assert_eq!(
        adopted.resolution,
        Resolution::Adopted {
            host_id: accounts[0]["id"].as_i64().unwrap()
        }
    );
    assert_eq!(report.keys[0].status, ItemStatus::Passed);
    assert_eq!(env.list("accounts").len(), 1, "no second account");
    let entry = env
        .journal
        .entries()
        .into_iter()
        .find(|e| e.id == intent.id)
        .unwrap();
    assert_eq!(entry.state, ResourceState::Adopted);

    let rb = rollback_batch(&env.adapter, &env.journal, &env.vault, &report.batch_id).unwrap();
    assert!(rb.complete, "{rb:#?}");
    assert_eq!(env.objects(), before);
}

#[test]
fn an_intent_whose_object_was_created_by_hand_is_adopted() {
    let env = Env::start();
    let before = env.objects();
    let target = env.target();
    // Journal an intent for the group, then create that group on the host by hand.
    let intent = env
        .journal
        .record_intent(&NewEntry::new(
            ResourceType::Group,
            target.resource_name(AccessMode::SelfService),
            json!({}),
        ))
        .unwrap();
    let group = env
        .client()
        .create_group(&target.new_group(AccessMode::SelfService))
        .unwrap();
    let report = resume_batch(
        &env.ports(&env.journal),
        &AccessClosure,
        &target,
        &ResumeRequest {
            import: request(&[GOOD_1], ImportMode::Strict, AccessMode::SelfService),
            items: vec![item(1, GOOD_1)],
        },
    )
    .unwrap();
    assert_eq!(report.outcome, BatchStatus::Succeeded, "{report:#?}");
    assert_eq!(
        report.resolved_intents[0].resolution,
        Resolution::Adopted { host_id: group.id }
    );
    let e = env
        .journal
        .entries()
        .into_iter()
        .find(|e| e.id == intent.id)
        .unwrap();
    assert_eq!(e.state, ResourceState::Adopted);
    assert_eq!(e.host_resource_id, Some(group.id));
    // The account was created (key supplied again) in the adopted group.
    let account = env
        .client()
        .get_account(report.keys[0].account_id.unwrap())
        .unwrap();
    assert_eq!(account.group_ids, vec![group.id]);
    assert_eq!(env.list("groups").len(), 1);

    let rb = rollback_batch(&env.adapter, &env.journal, &env.vault, &report.batch_id).unwrap();
    assert!(rb.complete);
    assert_eq!(env.objects(), before);
}

#[test]
fn an_intent_never_created_is_absent_and_a_missing_key_fails_its_item() {
    let env = Env::start();
    let before = env.objects();
    let target = env.target();
    let mut entry = NewEntry::new(
        ResourceType::Account,
        target.account_name(&Fingerprint::of(GOOD_2)),
        json!({}),
    );
    entry.fingerprint = Some(Fingerprint::of(GOOD_2));
    env.journal.record_intent(&entry).unwrap();

    // Strict: the missing key fails the batch and everything is rolled back.
    let req = ResumeRequest {
        import: request(&[GOOD_1], ImportMode::Strict, AccessMode::SelfService),
        items: vec![item(1, GOOD_1), item(2, GOOD_2)],
    };
    let report = resume_batch(&env.ports(&env.journal), &AccessClosure, &target, &req).unwrap();
    assert_eq!(report.resolved_intents[0].resolution, Resolution::Absent);
    assert_eq!(report.outcome, BatchStatus::Failed);
    let missing = &report.keys[1];
    assert_eq!(missing.status, ItemStatus::Failed);
    assert_eq!(missing.host_message.as_deref(), Some(KEY_NOT_SUPPLIED));
    assert_eq!(report.keys[0].status, ItemStatus::RolledBack);
    assert_eq!(env.objects(), before);

    // Partial, in another batch: the supplied key succeeds, the missing one fails.
    let b2 = env.batch("batch_2");
    let mut partial = req.clone();
    partial.import.mode = ImportMode::Partial;
    let report = resume_batch(&env.ports(&b2), &AccessClosure, &target, &partial).unwrap();
    assert_eq!(
        report.outcome,
        BatchStatus::PartiallySucceeded,
        "{report:#?}"
    );
    assert_eq!(report.keys[0].status, ItemStatus::Passed);
    assert_eq!(
        report.keys[1].host_message.as_deref(),
        Some(KEY_NOT_SUPPLIED)
    );
}

#[test]
fn several_same_name_objects_adopt_the_newest_and_report_a_conflict() {
    let env = Env::start();
    let target = env.target();
    let group = env
        .client()
        .create_group(&target.new_group(AccessMode::SelfService))
        .unwrap();
    let account = target.new_account(&Secret::new(GOOD_1), group.id, "batch_1");
    let a1 = env.client().create_account(&account, None).unwrap();
    let a2 = env.client().create_account(&account, None).unwrap();
    let mut entry = NewEntry::new(ResourceType::Account, account.name.clone(), json!({}));
    entry.fingerprint = Some(Fingerprint::of(GOOD_1));
    let intent = env.journal.record_intent(&entry).unwrap();
    let resolved =
        resolve_intents(&env.adapter, &env.journal, std::slice::from_ref(&intent)).unwrap();
    assert_eq!(
        resolved[0].resolution,
        Resolution::Conflict {
            host_id: a2.id,
            candidates: vec![a1.id, a2.id]
        }
    );
    // Already resolved: nothing to do a second time.
    let entries = env.journal.entries();
    assert!(resolve_intents(&env.adapter, &env.journal, &entries)
        .unwrap()
        .is_empty());
    // A later intent of the same name cannot adopt an object the journal knows.
    let second = env.journal.record_intent(&entry).unwrap();
    let resolved = resolve_intents(&env.adapter, &env.journal, &[second]).unwrap();
    assert_eq!(
        resolved[0].resolution,
        Resolution::Adopted { host_id: a1.id }
    );
}

#[test]
fn a_crash_between_the_batch_create_and_the_attaches_is_resolved_by_name_on_resume() {
    let env = Env::start();
    let before = env.objects();
    let target = env.target();
    let req = request(
        &[GOOD_1, GOOD_2],
        ImportMode::Strict,
        AccessMode::Subscription,
    );
    // Writes: group, channel and plan (intent + attach each), the two account
    // intents before the batch call; the first attach after it fails like a crash.
    env.journal.fail_writes_after(Some(8));
    let err = import(&env.ports(&env.journal), &AccessClosure, &target, &req).unwrap_err();
    assert!(matches!(err, ProvisionError::Journal(_)), "{err:?}");
    let accounts = env.list("accounts");
    assert_eq!(accounts.len(), 2, "the batch created both");
    let intents: Vec<_> = env
        .journal
        .entries()
        .into_iter()
        .filter(|e| e.resource_type == ResourceType::Account)
        .collect();
    assert_eq!(intents.len(), 2);
    assert!(intents
        .iter()
        .all(|e| e.state == ResourceState::Intent && e.host_resource_id.is_none()));

    env.journal.fail_writes_after(None);
    let mut again = req.clone();
    again.keys = Secret::new("");
    let report = resume_batch(
        &env.ports(&env.journal),
        &AccessClosure,
        &target,
        &ResumeRequest {
            import: again,
            items: vec![item(1, GOOD_1), item(2, GOOD_2)],
        },
    )
    .unwrap();
    assert_eq!(report.outcome, BatchStatus::Succeeded, "{report:#?}");
    let adopted: Vec<_> = report
        .resolved_intents
        .iter()
        .filter(|r| r.resource_type == ResourceType::Account)
        .map(|r| r.resolution.clone())
        .collect();
    let mut ids: Vec<i64> = accounts.iter().map(|a| a["id"].as_i64().unwrap()).collect();
    ids.sort_unstable();
    let mut got: Vec<i64> = adopted
        .iter()
        .map(|r| match r {
            Resolution::Adopted { host_id } => *host_id,
            other => panic!("{other:?}"),
        })
        .collect();
    got.sort_unstable();
    assert_eq!(got, ids);
    assert_eq!(env.list("accounts").len(), 2, "no second create");
    let rb = rollback_batch(&env.adapter, &env.journal, &env.vault, &report.batch_id).unwrap();
    assert!(rb.complete, "{rb:#?}");
    assert_eq!(env.objects(), before);
}
