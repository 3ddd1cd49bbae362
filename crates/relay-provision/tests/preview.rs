//! Preview against the in-process sub2api mock: read-only, and what it plans.

use relay_access::AccessClosure;
use relay_domain::{
    AccessMode, BatchStatus, DropReason, Fingerprint, ImportMode, KeyPlan, ResourceAction,
    ResourceType, Secret,
};
use relay_pack::Severity;
use relay_provision::*;
use relay_sub2api::{ChannelUpdate, HostAdapter, ModelPricing, NewGroup};
use relay_testkit::provision::*;
use relay_testkit::*;
use serde_json::Value;
use sub2api_mock::Faults;

const GOOD_1: &str = "sk-good-0001aaaaaaaaaaaaaaaaaaaaaaaa";
const ODD: &str = "ak-good-not-a-deepseek-shape-000000";

fn preview_request(keys: &str, access: AccessMode) -> PreviewRequest {
    PreviewRequest {
        keys: Secret::new(keys),
        mode: ImportMode::Strict,
        access_mode: access,
        supplied_key: false,
    }
}

fn non_get_calls(state: &Value) -> Vec<(String, u64)> {
    state["counters"]["by_route"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| !k.starts_with("GET "))
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect()
}

fn resource(report: &PreviewReport, t: ResourceType) -> &ResourcePlan {
    report
        .resources
        .iter()
        .find(|r| r.resource_type == t)
        .unwrap_or_else(|| panic!("{t} not planned"))
}

#[test]
fn preview_writes_nothing_and_plans_creation() {
    let env = Env::start();
    let target = env.target();
    let before = env.host.state();
    let input = format!("\u{feff}{GOOD_1}\n\n# a comment\n{ODD}\n  {GOOD_1}  \n");
    let report = preview(
        &env.adapter,
        &env.journal,
        &target,
        &preview_request(&input, AccessMode::Subscription),
    )
    .unwrap();
    let after = env.host.state();

    // Only GET calls, and no object changed.
    assert_eq!(non_get_calls(&after), non_get_calls(&before));
    assert!(after["counters"]["admin_calls"].as_u64() > before["counters"]["admin_calls"].as_u64());
    assert_eq!(env.objects(), {
        let mut b = before.clone();
        for k in ["counters", "faults", "policy", "limits"] {
            b.as_object_mut().unwrap().remove(k);
        }
        b
    });
    assert!(env.journal.entries().is_empty());

    assert!(report.can_import(), "{report:#?}");
    for t in [
        ResourceType::Group,
        ResourceType::Channel,
        ResourceType::Plan,
    ] {
        let r = resource(&report, t);
        assert_eq!(r.action, ResourceAction::Create);
        assert_eq!(r.name, "crm-test-pack-deepseek-sub");
    }
    let plans: Vec<(usize, KeyPlan)> = report.keys.iter().map(|k| (k.line, k.plan)).collect();
    assert_eq!(
        plans,
        vec![
            (1, KeyPlan::New),
            (4, KeyPlan::New),
            (5, KeyPlan::DuplicateInRequest)
        ]
    );
    assert_eq!(report.keys[2].duplicate_of_line, Some(1));
    assert_eq!(report.keys[2].fingerprint, Fingerprint::of(GOOD_1));
    assert_eq!(
        report.keys[0].account_name,
        format!("deepseek-{}", Fingerprint::of(GOOD_1).short())
    );
    assert!(report.keys[1].hint_mismatch && !report.keys[0].hint_mismatch);
    assert_eq!(report.counts.new, 2);
    assert_eq!(report.counts.duplicate_in_request, 1);
    let dropped: Vec<DropReason> = report.dropped.iter().map(|d| d.reason.clone()).collect();
    assert_eq!(dropped, vec![DropReason::Blank, DropReason::Comment]);
    // The hint warning shows the mask only.
    let hint = report
        .warnings
        .iter()
        .find(|w| w.contains("does not look like"))
        .expect("hint warning");
    assert!(hint.contains(&relay_domain::mask(ODD)));
    assert_no_secrets(&serde_json::to_string(&report).unwrap(), &[GOOD_1, ODD]);
    // Host overlays of the pack for this host version.
    assert_eq!(report.overlays.len(), 1);
    assert_eq!(report.overlays[0].severity, Severity::Warning);
}

#[test]
fn a_key_too_short_for_any_vendor_gets_a_warning_with_its_mask_only() {
    let env = Env::start();
    let target = env.target();
    const SHORT: &str = "sk-ae5c4ccb3";
    let report = preview(
        &env.adapter,
        &env.journal,
        &target,
        &preview_request(&format!("{GOOD_1}\n{SHORT}\n"), AccessMode::Subscription),
    )
    .unwrap();
    let short: Vec<&String> = report
        .warnings
        .iter()
        .filter(|w| w.contains("characters long"))
        .collect();
    assert_eq!(short.len(), 1, "{:?}", report.warnings);
    assert!(
        short[0].contains("key …b3 (line 2) is only 12 characters long"),
        "{}",
        short[0]
    );
    // The mask of a short key shows no head (no `sk-`) and 2 characters in all.
    assert_eq!(report.keys[1].mask, "…b3");
    assert_no_secrets(&serde_json::to_string(&report).unwrap(), &[GOOD_1, SHORT]);
}

#[test]
fn preview_after_an_import_reuses_and_finds_already_imported_keys() {
    let env = Env::start();
    let target = env.target();
    let report = env.import(
        &env.journal,
        &request(&[GOOD_1], ImportMode::Strict, AccessMode::Subscription),
    );
    assert_eq!(report.outcome, BatchStatus::Succeeded);
    let account_id = report.keys[0].account_id.unwrap();

    let p = preview(
        &env.adapter,
        &env.journal,
        &target,
        &preview_request(GOOD_1, AccessMode::Subscription),
    )
    .unwrap();
    for t in [
        ResourceType::Group,
        ResourceType::Channel,
        ResourceType::Plan,
    ] {
        let r = resource(&p, t);
        assert_eq!(r.action, ResourceAction::Reuse, "{t}: {r:?}");
        assert!(r.managed, "{t} is the manager's own");
        assert!(r.host_id.is_some());
    }
    assert_eq!(p.keys[0].plan, KeyPlan::AlreadyImported);
    assert_eq!(p.keys[0].account_id, Some(account_id));
    assert_eq!(p.keys[0].account_status.as_deref(), Some("active"));

    // A channel changed by hand is planned as an update, and the next import fixes it.
    let channel = resource(&p, ResourceType::Channel).host_id.unwrap();
    env.client()
        .update_channel(
            channel,
            &ChannelUpdate {
                model_pricing: Some(vec![ModelPricing {
                    platform: "openai".into(),
                    models: vec![SMOKE.into()],
                    billing_mode: "token".into(),
                    input_price: Some(0.5),
                    output_price: Some(0.5),
                    ..ModelPricing::default()
                }]),
                ..ChannelUpdate::default()
            },
        )
        .unwrap();
    let p = preview(
        &env.adapter,
        &env.journal,
        &target,
        &preview_request(GOOD_1, AccessMode::Subscription),
    )
    .unwrap();
    let ch = resource(&p, ResourceType::Channel);
    assert_eq!(ch.action, ResourceAction::Update);
    assert!(ch.reason.as_deref().unwrap().contains("model_pricing"));
    let again = env.import(
        &env.batch("batch_2"),
        &request(&[GOOD_1], ImportMode::Strict, AccessMode::Subscription),
    );
    let changed = again
        .resources
        .iter()
        .find(|r| r.resource_type == ResourceType::Channel)
        .unwrap();
    assert_eq!(changed.change, ResourceChange::Updated);
    let fixed = env.client().get_channel(channel).unwrap();
    assert!(target.channel_differences(&fixed, None).is_empty());
}

#[test]
fn same_name_group_of_another_type_is_a_conflict_and_blocks_the_import() {
    let env = Env::start();
    let target = env.target();
    env.client()
        .create_group(&NewGroup {
            name: target.resource_name(AccessMode::Subscription),
            description: None,
            platform: "anthropic".into(),
            rate_multiplier: 1.0,
            is_exclusive: false,
            subscription_type: "standard".into(),
            daily_limit_usd: None,
            weekly_limit_usd: None,
            monthly_limit_usd: None,
        })
        .unwrap();
    let before = env.objects();
    let p = preview(
        &env.adapter,
        &env.journal,
        &target,
        &preview_request(GOOD_1, AccessMode::Subscription),
    )
    .unwrap();
    let g = resource(&p, ResourceType::Group);
    assert_eq!(g.action, ResourceAction::Conflict);
    assert!(g.reason.as_deref().unwrap().contains("anthropic"));
    assert!(!p.can_import());
    let err = import(
        &env.ports(&env.journal),
        &AccessClosure,
        &target,
        &request(&[GOOD_1], ImportMode::Strict, AccessMode::Subscription),
    )
    .unwrap_err();
    assert!(matches!(err, ProvisionError::Blocked { .. }), "{err:?}");
    assert!(err.to_string().contains("group"));
    assert_no_secrets(&err.to_string(), &[GOOD_1]);
    assert_eq!(env.objects(), before);
    assert!(env.journal.entries().is_empty());
}

#[test]
fn capability_gaps_are_warnings_or_problems() {
    let env = Env::start();
    let mut target = env.target();
    target.capabilities.plans = false;
    target.capabilities.channels = false;
    let p = preview(
        &env.adapter,
        &env.journal,
        &target,
        &preview_request(GOOD_1, AccessMode::Subscription),
    )
    .unwrap();
    assert!(p.can_import());
    assert!(p.warnings.iter().any(|w| w.contains("plan skipped")));
    assert!(p.warnings.iter().any(|w| w.contains("no channels")));
    assert_eq!(p.resources.len(), 1, "only the group: {:#?}", p.resources);

    target.capabilities.subscriptions = false;
    let p = preview(
        &env.adapter,
        &env.journal,
        &target,
        &preview_request(GOOD_1, AccessMode::Subscription),
    )
    .unwrap();
    assert!(!p.can_import());
    assert!(p.problems[0].contains("subscription"));

    let p = preview(
        &env.adapter,
        &env.journal,
        &env.target(),
        &preview_request("\n# nothing\n", AccessMode::SelfService),
    )
    .unwrap();
    assert!(p.problems.iter().any(|x| x.contains("no key")));
    assert!(p.warnings.iter().any(|w| w.contains("not_configured")));
    assert!(p
        .resources
        .iter()
        .all(|r| r.name == "crm-test-pack-deepseek-self"));
}

#[test]
fn an_old_host_without_channels_and_plans_still_imports() {
    let env = Env::with_faults(Faults {
        disable_channels: true,
        disable_payment: true,
        ..Faults::default()
    });
    let target = env.target();
    assert!(!target.capabilities.channels && !target.capabilities.plans);
    let report = import(
        &env.ports(&env.journal),
        &AccessClosure,
        &target,
        &request(&[GOOD_1], ImportMode::Strict, AccessMode::Subscription),
    )
    .unwrap();
    assert_eq!(report.outcome, BatchStatus::Succeeded, "{report:#?}");
    assert!(report.warnings.iter().any(|w| w.contains("plan skipped")));
    assert_eq!(
        report.access.status,
        relay_domain::AccessStatus::SubscriptionReady
    );
    let kinds: Vec<ResourceType> = report.resources.iter().map(|r| r.resource_type).collect();
    assert!(!kinds.contains(&ResourceType::Channel) && !kinds.contains(&ResourceType::Plan));
}

#[test]
fn the_journal_must_match_the_target_and_have_a_batch() {
    let env = Env::start();
    let mut other = env.target();
    other.provider.provider_id = "moonshot".into();
    let req = request(&[GOOD_1], ImportMode::Strict, AccessMode::SelfService);
    let err = import(&env.ports(&env.journal), &AccessClosure, &other, &req).unwrap_err();
    assert!(
        matches!(
            err,
            ProvisionError::Core(relay_core::CoreError::ScopeMismatch(_))
        ),
        "{err:?}"
    );
    let no_batch = env.journal.with_batch(None);
    let err = import(&env.ports(&no_batch), &AccessClosure, &env.target(), &req).unwrap_err();
    assert_eq!(err, ProvisionError::NoBatch);
    let mut bad = req.clone();
    bad.probe_balance_usd = 0.0;
    let err = import(
        &env.ports(&env.journal),
        &AccessClosure,
        &env.target(),
        &bad,
    )
    .unwrap_err();
    assert!(matches!(err, ProvisionError::InvalidRequest(_)));
    assert!(env.list("groups").is_empty());
}
