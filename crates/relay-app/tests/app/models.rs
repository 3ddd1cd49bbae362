//! Model-list drift through the host's upstream model sync: no drift, an added
//! model, the stored last check, the metric, the proposed pack, and a host without
//! the route. Nothing changes on the host.

use crate::support::*;
use relay_app::{AppError, ModelsDiffInput};
use relay_domain::{ImportMode, ModelListSource};

const KEY_NEW: &str = "sk-test-newmodel-aaaaaaaaaaaaaaaaaaaaaaa";

fn diff_input() -> ModelsDiffInput {
    ModelsDiffInput {
        provider_id: PROVIDER.into(),
        host: "main".into(),
        pack_id: None,
        direct_key: None,
    }
}

#[test]
fn the_pack_models_match_the_vendor_list_and_the_check_is_stored() {
    let env = Env::start();
    env.app
        .import(PROVIDER, input(&[KEY_A], ImportMode::Strict))
        .expect("import runs");
    assert_eq!(
        env.app.last_models_diff(PROVIDER, "main", None).unwrap(),
        None
    );
    let diff = env.app.models_diff(&diff_input()).expect("diff");
    assert_eq!(diff.source, ModelListSource::HostSync);
    assert!(diff.account_id.is_some());
    assert!(!diff.drifted, "{diff:?}");
    assert_eq!(
        diff.upstream_models,
        vec!["deepseek-flash", "deepseek-v4-pro"]
    );
    assert_eq!(diff.drift.unchanged, diff.upstream_models);
    assert_eq!(diff.vendor_calls, 1);
    assert_eq!(
        env.app.last_models_diff(PROVIDER, "main", None).unwrap(),
        Some(diff)
    );
    let metrics = env.app.render_metrics().unwrap();
    assert!(
        metrics.contains("relay_model_drift_providers 0"),
        "{metrics}"
    );
}

#[test]
fn an_added_vendor_model_is_reported_and_proposed_without_touching_the_host() {
    let env = Env::start();
    env.app
        .import(PROVIDER, input(&[KEY_NEW], ImportMode::Strict))
        .expect("import runs");
    let before = env.host_objects();
    let diff = env.app.models_diff(&diff_input()).expect("diff");
    assert!(diff.drifted);
    assert_eq!(diff.drift.added, vec!["deepseek-next"]);
    assert!(diff.drift.retired.is_empty() && diff.drift.renamed.is_empty());
    let metrics = env.app.render_metrics().unwrap();
    assert!(
        metrics.contains("relay_model_drift_providers 1"),
        "{metrics}"
    );

    let proposal = env.app.propose_pack(&diff_input()).expect("proposal");
    assert_eq!(proposal.version_from, "1.0.0");
    assert_eq!(proposal.version_to, "1.1.0");
    let files = proposal
        .files
        .iter()
        .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
        .collect();
    let pack = relay_pack::Pack::from_files(files).expect("the proposal is a valid pack");
    let p = pack.provider(PROVIDER).unwrap();
    assert!(p.default_models.iter().any(|m| m == "deepseek-next"));
    assert!(proposal.files["PROPOSAL.md"].contains("added deepseek-next"));
    assert!(proposal.patch.contains("+    \"deepseek-next\""));
    // Nothing changed on the host.
    assert_eq!(env.host_objects(), before);
}

#[test]
fn a_host_without_the_sync_route_needs_the_opt_in_probe() {
    let env = Env::start();
    env.app
        .import(PROVIDER, input(&[KEY_A], ImportMode::Strict))
        .expect("import runs");
    let mut knobs = env.mock.knobs();
    knobs.old_build = true;
    env.mock.set_knobs(knobs);
    match env.app.models_diff(&diff_input()) {
        Err(AppError::Conflict { code, message }) => {
            assert_eq!(code, "model_list_unavailable");
            assert!(message.contains("no upstream model sync"), "{message}");
            assert!(message.contains("direct probe"), "{message}");
        }
        other => panic!("expected model_list_unavailable, got {other:?}"),
    }
}

#[test]
fn without_a_managed_account_the_host_lists_the_models_with_a_supplied_key() {
    let env = Env::start();
    // Nothing imported: no account to ask. Without a key the check cannot run.
    match env.app.models_diff(&diff_input()) {
        Err(AppError::Conflict { code, .. }) => assert_eq!(code, "model_list_unavailable"),
        other => panic!("expected model_list_unavailable, got {other:?}"),
    }
    let before = env.host_objects();
    let diff = env
        .app
        .models_diff(&ModelsDiffInput {
            direct_key: Some(relay_domain::Secret::new(KEY_NEW)),
            ..diff_input()
        })
        .expect("diff");
    assert_eq!(diff.source, ModelListSource::HostSync);
    assert_eq!(diff.account_id, None);
    assert_eq!(diff.drift.added, vec!["deepseek-next"]);
    assert!(
        diff.notes.iter().any(|n| n.contains("supplied key")),
        "{:?}",
        diff.notes
    );
    assert!(!format!("{diff:?}").contains(KEY_NEW));
    assert_eq!(env.host_objects(), before);
}
