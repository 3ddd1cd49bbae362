//! The platform choice against the sub2api mock: a new install on a host with the
//! native CN platform uses it; a host without it falls back to `openai` with forced
//! Chat Completions; an existing install keeps its group's platform.

use relay_access::AccessClosure;
use relay_core::*;
use relay_domain::{AccessMode, AccessStatus, BatchStatus, ImportMode, ResourceAction};
use relay_pack::{NativePlatform, Platform, ProviderManifest};
use relay_provision::*;
use relay_sub2api::{GroupFilter, HostAdapter, NewGroup};
use relay_testkit::provision::*;
use relay_testkit::*;
use serde_json::{json, Value};
use sub2api_mock::{Faults, HostKnobs};

const GOOD_1: &str = "sk-good-0001aaaaaaaaaaaaaaaaaaaaaaaa";
const GOOD_2: &str = "sk-good-0002bbbbbbbbbbbbbbbbbbbbbbbb";

/// The test manifest with DeepSeek's native platform from 0.1.178 on.
fn native_manifest() -> ProviderManifest {
    ProviderManifest {
        native_platform: Some(NativePlatform {
            platform: Platform::Deepseek,
            host_version: ">=0.1.178".parse().unwrap(),
        }),
        ..manifest()
    }
}

fn by_name<'a>(list: &'a [Value], name: &str) -> &'a Value {
    list.iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("{name} on the host"))
}

fn import_with(env: &Env, target: &ProviderTarget, keys: &[&str]) -> ImportReport {
    let req = request(keys, ImportMode::Strict, AccessMode::Subscription);
    import(&env.ports(&env.journal), &AccessClosure, target, &req).expect("import runs")
}

fn preview_of(env: &Env, target: &ProviderTarget, keys: &[&str]) -> PreviewReport {
    let req = request(keys, ImportMode::Strict, AccessMode::Subscription);
    preview(&env.adapter, &env.journal, target, &req.preview_request()).expect("preview")
}

/// Simulates an old build (0.1.27): old group platform enum and routes.
fn old_host(env: &Env) {
    env.host.set_knobs(HostKnobs {
        old_build: true,
        ..HostKnobs::default()
    });
    env.host.set_faults(Faults {
        host_version: Some("0.1.27".into()),
        ..Faults::default()
    });
}

#[test]
fn a_new_install_on_a_host_with_the_native_platform_uses_it() {
    let env = Env::start();
    let target = env.target_with(native_manifest());
    assert_eq!(target.host_version.as_deref(), Some("0.1.179"));
    let p = preview_of(&env, &target, &[GOOD_1]);
    assert_eq!(p.platform.platform, Platform::Deepseek);
    assert_eq!(
        p.platform.reason,
        PlatformReason::NativeSupported {
            host_version: "0.1.179".into(),
            requirement: ">=0.1.178".into()
        }
    );
    let shown = serde_json::to_value(&p).unwrap();
    assert_eq!(shown["platform"]["platform"], "deepseek");
    assert!(shown["platform"]["explanation"]
        .as_str()
        .unwrap()
        .contains("native platform"));

    let report = import_with(&env, &target, &[GOOD_1, GOOD_2]);
    assert_eq!(report.outcome, BatchStatus::Succeeded, "{report:#?}");
    assert_eq!(report.access.status, AccessStatus::SubscriptionReady);
    assert_eq!(
        report.preview.as_ref().unwrap().platform.platform,
        Platform::Deepseek
    );

    let name = target.resource_name(AccessMode::Subscription);
    let group = by_name(&env.list("groups"), &name).clone();
    assert_eq!(group["platform"], "deepseek");
    let channel = by_name(&env.list("channels"), &name).clone();
    assert_eq!(channel["model_mapping"]["deepseek"][SMOKE], SMOKE);
    assert!(channel["model_mapping"].get("openai").is_none());
    assert_eq!(channel["model_pricing"][0]["platform"], "deepseek");
    let accounts = env.list("accounts");
    assert_eq!(accounts.len(), 2);
    for a in &accounts {
        assert_eq!(a["platform"], "deepseek");
        assert_eq!(a["group_ids"], json!([group["id"]]));
        // No Responses extra is sent: what is there is the host's own.
        assert_ne!(
            a["extra"]["openai_responses_mode"],
            "force_chat_completions"
        );
    }
    // The group's platform is recorded: the next target (same journal) keeps it.
    let again = env.target_with(native_manifest());
    assert_eq!(again.platform.platform, Platform::Deepseek);
    assert!(matches!(
        again.platform.reason,
        PlatformReason::ExistingGroup { .. }
    ));
}

#[test]
fn a_host_without_the_native_platform_falls_back_to_openai_with_forced_chat() {
    let env = Env::start();
    old_host(&env);
    // The old build's group enum refuses the native platform outright.
    let refused = env.client().create_group(&NewGroup {
        name: "probe-native".into(),
        description: None,
        platform: "deepseek".into(),
        rate_multiplier: 1.0,
        is_exclusive: false,
        subscription_type: "standard".into(),
        daily_limit_usd: None,
        weekly_limit_usd: None,
        monthly_limit_usd: None,
    });
    assert!(refused.is_err(), "{refused:?}");

    let target = env.target_with(native_manifest());
    assert_eq!(target.host_version.as_deref(), Some("0.1.27"));
    assert_eq!(target.platform.platform, Platform::Openai);
    assert_eq!(
        target.platform.reason,
        PlatformReason::HostTooOld {
            host_version: "0.1.27".into(),
            requirement: ">=0.1.178".into()
        }
    );
    let report = import_with(&env, &target, &[GOOD_1]);
    assert_eq!(report.outcome, BatchStatus::Succeeded, "{report:#?}");
    let name = target.resource_name(AccessMode::Subscription);
    assert_eq!(by_name(&env.list("groups"), &name)["platform"], "openai");
    let channel = by_name(&env.list("channels"), &name).clone();
    assert_eq!(channel["model_mapping"]["openai"][SMOKE], SMOKE);
    let accounts = env.list("accounts");
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0]["platform"], "openai");
    assert_eq!(
        accounts[0]["extra"]["openai_responses_mode"],
        "force_chat_completions"
    );
    assert_eq!(accounts[0]["extra"]["openai_responses_supported"], false);
}

#[test]
fn an_existing_openai_install_is_not_switched_after_a_host_upgrade() {
    let env = Env::start();
    old_host(&env);
    let before = env.target_with(native_manifest());
    let first = import_with(&env, &before, &[GOOD_1]);
    assert_eq!(first.outcome, BatchStatus::Succeeded, "{first:#?}");
    // The host is upgraded to a build with the native platform.
    env.host.set_knobs(HostKnobs::default());
    env.host.set_faults(Faults {
        host_version: Some("0.1.179".into()),
        ..Faults::default()
    });

    let after = env.target_with(native_manifest());
    assert_eq!(after.host_version.as_deref(), Some("0.1.179"));
    assert_eq!(after.platform.platform, Platform::Openai);
    let name = after.resource_name(AccessMode::Subscription);
    assert_eq!(
        after.platform.reason,
        PlatformReason::ExistingGroup {
            group: name.clone(),
            group_id: Some(first.access.group_id),
        }
    );
    let p = preview_of(&env, &after, &[GOOD_1, GOOD_2]);
    assert_eq!(p.platform.platform, Platform::Openai);
    assert_eq!(p.resources[0].action, ResourceAction::Reuse, "{p:#?}");
    assert!(p.problems.is_empty(), "{:?}", p.problems);

    let second = import(
        &env.ports(&env.batch("batch_2")),
        &AccessClosure,
        &after,
        &request(
            &[GOOD_1, GOOD_2],
            ImportMode::Strict,
            AccessMode::Subscription,
        ),
    )
    .expect("import runs");
    assert_eq!(second.outcome, BatchStatus::Succeeded, "{second:#?}");
    let groups: Vec<Value> = env
        .list("groups")
        .into_iter()
        .filter(|g| g["name"] == name)
        .collect();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0]["platform"], "openai");
    let accounts = env.list("accounts");
    assert_eq!(accounts.len(), 2);
    for a in &accounts {
        assert_eq!(a["platform"], "openai", "{a}");
        assert_eq!(
            a["extra"]["openai_responses_mode"],
            "force_chat_completions"
        );
    }
}

#[test]
fn a_same_name_group_found_on_the_host_keeps_its_platform() {
    let env = Env::start();
    let target = env.target_with(native_manifest());
    assert_eq!(target.platform.platform, Platform::Deepseek);
    // Made by an earlier install whose record is gone (or by hand), on openai.
    let name = target.resource_name(AccessMode::Subscription);
    let g = env
        .client()
        .create_group(&NewGroup {
            name: name.clone(),
            description: None,
            platform: "openai".into(),
            rate_multiplier: 1.0,
            is_exclusive: false,
            subscription_type: "subscription".into(),
            daily_limit_usd: None,
            weekly_limit_usd: None,
            monthly_limit_usd: None,
        })
        .unwrap();
    let p = preview_of(&env, &target, &[GOOD_1]);
    assert_eq!(p.platform.platform, Platform::Openai, "{p:#?}");
    assert_eq!(
        p.platform.reason,
        PlatformReason::ExistingGroup {
            group: name.clone(),
            group_id: Some(g.id)
        }
    );
    assert_eq!(p.resources[0].action, ResourceAction::Reuse);
    let report = import_with(&env, &target, &[GOOD_1]);
    assert_eq!(report.outcome, BatchStatus::Succeeded, "{report:#?}");
    let accounts = env.list("accounts");
    assert_eq!(accounts[0]["platform"], "openai");
    assert_eq!(
        env.client()
            .list_groups(&GroupFilter {
                name: Some(name),
                platform: None
            })
            .unwrap()
            .len(),
        1
    );
    // The reused group's platform is now recorded.
    assert_eq!(
        env.target_with(native_manifest()).platform.platform,
        Platform::Openai
    );
}
