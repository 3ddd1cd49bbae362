//! The audit trail: every host mutation of a use-case recorded with its origin and
//! its fields before → after, no secret among them.

use crate::support::*;
use relay_app::ReconcileOptions;
use relay_domain::{AuditOriginKind, BatchStatus, ImportMode, Secret};
use relay_store::{AuditEventRecord, AuditFilter, AuditRepository};
use relay_sub2api::{AdminAuth, ChannelUpdate, HostAdapter, HostConfig, Sub2ApiClient};
use serde_json::json;

fn events(env: &Env, kind: AuditOriginKind, id: &str) -> Vec<AuditEventRecord> {
    env.store
        .audit()
        .list(&AuditFilter {
            origin_kind: Some(kind),
            origin_id: Some(id.to_string()),
            limit: Some(1000),
            ..AuditFilter::default()
        })
        .unwrap()
        .items
}

fn change<'a>(e: &'a AuditEventRecord, field: &str) -> Option<&'a relay_domain::FieldChange> {
    e.changes.iter().find(|c| c.field == field)
}

/// A client of the mock's admin API, as a person at the host's console.
fn by_hand(env: &Env) -> Sub2ApiClient {
    Sub2ApiClient::new(HostConfig::new(
        env.mock.base_url(),
        AdminAuth::ApiKey(Secret::new(env.mock.admin_api_key())),
    ))
    .unwrap()
}

#[test]
fn an_import_records_its_creates_with_their_fields_and_the_batch_as_origin() {
    let env = Env::start();
    let view = env
        .app
        .import(PROVIDER, input(&[KEY_A, KEY_B], ImportMode::Strict))
        .expect("import runs");
    assert_eq!(view.batch.status, BatchStatus::Succeeded);
    let trail = events(&env, AuditOriginKind::ImportBatch, view.batch.id.as_str());
    let creates = |kind: &str| {
        trail
            .iter()
            .filter(|e| e.operation == "create" && e.object_kind == kind)
            .collect::<Vec<_>>()
    };
    assert_eq!(creates("group").len(), 1, "{trail:#?}");
    assert_eq!(creates("channel").len(), 1);
    assert_eq!(creates("account").len(), 2);
    for e in &trail {
        assert_eq!(e.outcome, "ok", "{e:?}");
        assert_eq!(e.provider_id.as_ref().unwrap().0, PROVIDER);
        assert!(e.object_id.is_some(), "{e:?}");
    }
    let group = creates("group")[0];
    let name = change(group, "name").expect("the group's name");
    assert_eq!(name.before, json!(null));
    assert_eq!(
        Some(&name.after),
        group.object_name.as_ref().map(|n| json!(n)).as_ref()
    );
    let account = creates("account")[0];
    let key = change(account, "credentials.api_key").expect("the key is recorded as set");
    assert_eq!(key.after, json!("***"));
    let channel = creates("channel")[0];
    assert!(
        channel
            .changes
            .iter()
            .any(|c| c.field.starts_with("model_mapping.") && c.after == json!("deepseek-flash")),
        "{channel:?}"
    );
    // No upstream key anywhere in the trail.
    let text = serde_json::to_string(&trail).unwrap();
    for key in [KEY_A, KEY_B] {
        assert!(!text.contains(key));
    }
}

#[test]
fn a_reconcile_repair_records_the_changed_fields_before_and_after() {
    let env = Env::start();
    env.app
        .import(PROVIDER, input(&[KEY_A], ImportMode::Strict))
        .expect("import runs");
    // Someone edits the channel's model mapping at the host.
    let host = by_hand(&env);
    let channel = host
        .list_channels(None)
        .unwrap()
        .into_iter()
        .find(|c| c.name.contains(PROVIDER))
        .expect("the provider's channel");
    let mut mapping = channel.model_mapping.clone();
    let platform = mapping.keys().next().cloned().expect("a platform");
    let edited = mapping.get_mut(&platform).unwrap();
    edited.insert("deepseek-flash".into(), "deepseek-v4-pro".into());
    edited.remove("deepseek-v4-pro");
    host.update_channel(
        channel.id,
        &ChannelUpdate {
            model_mapping: Some(mapping),
            ..ChannelUpdate::default()
        },
    )
    .unwrap();

    let run = env
        .app
        .reconcile_provider(
            PROVIDER,
            "main",
            None,
            &ReconcileOptions {
                repair: true,
                ..ReconcileOptions::default()
            },
        )
        .expect("reconcile runs");
    let trail = events(&env, AuditOriginKind::ReconcileRun, run.id.as_str());
    let update = trail
        .iter()
        .find(|e| e.object_kind == "channel" && e.operation == "update")
        .unwrap_or_else(|| panic!("the repair is recorded: {trail:#?}"));
    assert_eq!(update.object_id, Some(channel.id));
    assert_eq!(update.outcome, "ok");
    let flash = change(update, &format!("model_mapping.{platform}.deepseek-flash")).unwrap();
    assert_eq!(flash.before, json!("deepseek-v4-pro"));
    assert_eq!(flash.after, json!("deepseek-flash"));
    let pro = change(update, &format!("model_mapping.{platform}.deepseek-v4-pro")).unwrap();
    assert_eq!(pro.before, json!(null));
    assert_eq!(pro.after, json!("deepseek-v4-pro"));
    // Fields the repair sent but did not change are not listed.
    assert!(change(update, "restrict_models").is_none(), "{update:?}");
}

#[test]
fn a_rollback_records_its_deletes_with_the_fields_removed() {
    let env = Env::start();
    let view = env
        .app
        .import(PROVIDER, input(&[KEY_A], ImportMode::Strict))
        .expect("import runs");
    env.app
        .rollback_batch(view.batch.id.as_str())
        .expect("rollback runs");
    let trail = events(&env, AuditOriginKind::Rollback, view.batch.id.as_str());
    let deletes: Vec<_> = trail.iter().filter(|e| e.operation == "delete").collect();
    for kind in ["account", "channel", "group"] {
        let e = deletes
            .iter()
            .find(|e| e.object_kind == kind)
            .unwrap_or_else(|| panic!("a delete of the {kind}: {trail:#?}"));
        assert_eq!(e.outcome, "ok");
        let name = change(e, "name").expect("the name removed");
        assert_eq!(name.after, json!(null));
        assert!(name.before.is_string());
    }
    // The account's key is never recorded, only that there was one.
    let account = deletes.iter().find(|e| e.object_kind == "account").unwrap();
    if let Some(key) = change(account, "credentials.api_key") {
        assert_eq!(key.before, json!("***"));
    }
    assert!(!serde_json::to_string(&trail).unwrap().contains(KEY_A));
}

#[test]
fn an_access_closure_is_stored_with_its_mutations_and_evidence() {
    let env = Env::start();
    env.app
        .import(PROVIDER, input(&[KEY_A], ImportMode::Strict))
        .expect("import runs");
    env.app
        .assign_subscriptions(
            PROVIDER,
            &relay_app::AccessInput {
                host: "main".into(),
                pack_id: None,
                access_mode: relay_domain::AccessMode::Subscription,
                subscribers: vec![relay_app::SubscriberSelector::Email(
                    "dev@example.test".into(),
                )],
                validity_days: Some(7),
                subscriber_validity_days: Vec::new(),
                probe_key: None,
            },
        )
        .expect("access closed");
    let closures = env
        .app
        .operations(
            relay_app::audit::OperationKind::AccessClosure,
            PROVIDER,
            "main",
            None,
            10,
        )
        .unwrap();
    assert_eq!(closures.len(), 1);
    let closure = &closures[0];
    assert!(closure.id.starts_with("acl_"), "{closure:?}");
    assert_eq!(closure.outcome, "succeeded");
    assert_eq!(closure.asked["validity_days"], 7);
    let trail = events(&env, AuditOriginKind::AccessClosure, &closure.id);
    // The new subscriber: a user created (its password never recorded) and a subscription.
    let user = trail
        .iter()
        .find(|e| e.object_kind == "user" && e.operation == "create")
        .unwrap_or_else(|| panic!("no user created in {trail:#?}"));
    assert_eq!(user.object_name.as_deref(), Some("dev@example.test"));
    assert_eq!(change(user, "password").unwrap().after, json!("***"));
    assert!(trail
        .iter()
        .any(|e| e.object_kind == "subscription" && e.operation == "create"));
    let evidence = env.app.operation_evidence(&closure.id).unwrap();
    assert_eq!(evidence["kind"], "access_closure");
    assert_eq!(
        evidence["audit_events"].as_array().unwrap().len(),
        trail.len()
    );
    assert!(!evidence.to_string().contains(KEY_A));
}

#[test]
fn the_decorator_uses_the_use_case_s_read_and_reads_once_otherwise() {
    use relay_app::audit::{AuditRecorder, AuditScope, AuditedAdapter};
    use relay_app::metrics::{MeteredAdapter, Metrics};
    use relay_domain::{AuditOrigin, HostId};
    use relay_sub2api::{GroupUpdate, NewGroup, NewUser, Platform};
    use std::sync::Arc;

    let env = Env::start();
    let metrics = Arc::new(Metrics::default());
    let inner = Arc::new(MeteredAdapter::new(
        Arc::new(by_hand(&env)),
        metrics.clone(),
    ));
    let audited = AuditedAdapter::new(
        inner,
        AuditRecorder::new(env.store.clone(), metrics.clone()),
        AuditScope {
            host_id: HostId::new("host_x"),
            pack_id: None,
            provider_id: None,
            origin: AuditOrigin::new(AuditOriginKind::Repair, Some("rep_1")),
        },
    );
    let group = audited
        .create_group(&NewGroup {
            name: "audit-group".into(),
            description: None,
            platform: Platform::Openai,
            rate_multiplier: 1.0,
            is_exclusive: false,
            subscription_type: "standard".into(),
            daily_limit_usd: None,
            weekly_limit_usd: None,
            monthly_limit_usd: None,
        })
        .unwrap();
    // A read, then the update: the read is the "before", no other read is made.
    audited.get_group(group.id).unwrap();
    audited
        .update_group(
            group.id,
            &GroupUpdate {
                rate_multiplier: Some(2.0),
                ..GroupUpdate::default()
            },
        )
        .unwrap();
    assert_eq!(metrics.host_call_count("get_group"), 1);
    // An update without a read first: one read of the group.
    audited
        .update_group(
            group.id,
            &GroupUpdate {
                description: Some("changed by hand".into()),
                ..GroupUpdate::default()
            },
        )
        .unwrap();
    assert_eq!(metrics.host_call_count("get_group"), 2);
    audited.delete_group(group.id).unwrap();
    // A user's password is never recorded.
    let password = "crm-0123456789abcdef0123456789abcdef";
    audited
        .create_user(&NewUser {
            email: "audit@example.test".into(),
            password: Secret::new(password),
            username: None,
            notes: None,
            balance: None,
            concurrency: None,
            allowed_groups: Vec::new(),
        })
        .unwrap();

    let trail = events(&env, AuditOriginKind::Repair, "rep_1");
    let ops: Vec<(&str, &str)> = trail
        .iter()
        .map(|e| (e.object_kind.as_str(), e.operation.as_str()))
        .collect();
    assert_eq!(
        ops,
        [
            ("group", "create"),
            ("group", "update"),
            ("group", "update"),
            ("group", "delete"),
            ("user", "create")
        ]
    );
    let rate = change(&trail[1], "rate_multiplier").unwrap();
    assert_eq!(
        (rate.before.clone(), rate.after.clone()),
        (json!(1.0), json!(2.0))
    );
    assert_eq!(trail[1].changes.len(), 1, "{:?}", trail[1]);
    let description = change(&trail[2], "description").unwrap();
    assert_eq!(description.after, json!("changed by hand"));
    let deleted = change(&trail[3], "rate_multiplier").unwrap();
    assert_eq!(
        (deleted.before.clone(), deleted.after.clone()),
        (json!(2.0), json!(null))
    );
    assert_eq!(change(&trail[4], "password").unwrap().after, json!("***"));
    assert!(!serde_json::to_string(&trail).unwrap().contains(password));
    assert_eq!(metrics.audit_write_failures(), 0);
}
