//! Model-list drift against the shipped pack, and the pack change it proposes.

use relay_pack::{load_dir, model_drift, propose, Pack, PROPOSAL_FILE};

use crate::common::real_pack_dir;

fn real() -> Pack {
    load_dir(&real_pack_dir()).expect("the shipped pack is valid")
}

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn the_same_list_is_no_drift_and_case_does_not_matter() {
    let pack = real();
    let deepseek = pack.provider("deepseek").unwrap();
    let drift = model_drift(deepseek, &ids(&["DeepSeek-Flash", "deepseek-v4-pro"]));
    assert!(!drift.has_drift(), "{drift:?}");
    assert_eq!(drift.unchanged, ids(&["deepseek-flash", "deepseek-v4-pro"]));
}

#[test]
fn added_retired_and_renamed_are_told_apart() {
    let pack = real();
    let deepseek = pack.provider("deepseek").unwrap();
    // deepseek-v4-pro gone; a dated snapshot of it and an unrelated model appeared.
    let drift = model_drift(
        deepseek,
        &ids(&[
            "deepseek-flash",
            "deepseek-v4-pro-2026-09-01",
            "deepseek-next",
        ]),
    );
    assert_eq!(drift.added, ids(&["deepseek-next"]));
    assert!(drift.retired.is_empty(), "{drift:?}");
    assert_eq!(drift.renamed.len(), 1);
    assert_eq!(drift.renamed[0].from, "deepseek-v4-pro");
    assert_eq!(drift.renamed[0].to, "deepseek-v4-pro-2026-09-01");
    assert!(
        drift.renamed[0].why.contains("family"),
        "{:?}",
        drift.renamed[0]
    );

    // Without a successor the old id is retired.
    let drift = model_drift(deepseek, &ids(&["deepseek-flash"]));
    assert_eq!(drift.retired, ids(&["deepseek-v4-pro"]));
    assert!(drift.added.is_empty() && drift.renamed.is_empty());
}

#[test]
fn an_alias_the_pack_knew_names_the_successor() {
    let pack = real();
    let glm = pack.provider("glm").unwrap();
    let mut upstream: Vec<String> = glm
        .default_models
        .iter()
        .filter(|m| *m != "glm-4.6")
        .cloned()
        .collect();
    upstream.push("glm4.6".into());
    let drift = model_drift(glm, &upstream);
    assert_eq!(drift.renamed.len(), 1, "{drift:?}");
    assert_eq!(drift.renamed[0].from, "glm-4.6");
    assert_eq!(drift.renamed[0].to, "glm4.6");
    assert!(drift.renamed[0].why.contains("alias"));
}

#[test]
fn a_proposal_is_a_valid_pack_with_the_change_and_a_bumped_version() {
    let pack = real();
    let deepseek = pack.provider("deepseek").unwrap();
    let drift = model_drift(
        deepseek,
        &ids(&[
            "deepseek-flash",
            "deepseek-v4-pro-2026-09-01",
            "deepseek-next",
        ]),
    );
    let proposal = propose(&pack, "deepseek", &drift, "the host's upstream model sync").unwrap();
    let proposed = Pack::from_files(proposal.files.clone()).expect("the proposal validates");
    assert_eq!(proposal.version_from, "1.0.0");
    assert_eq!(proposal.version_to, "1.1.0");
    assert_eq!(proposed.manifest.version.to_string(), "1.1.0");
    let p = proposed.provider("deepseek").unwrap();
    assert_eq!(
        p.default_models,
        ids(&[
            "deepseek-flash",
            "deepseek-v4-pro-2026-09-01",
            "deepseek-next"
        ])
    );
    assert_eq!(
        p.channel_template
            .model_mapping
            .get("deepseek-next")
            .map(String::as_str),
        Some("deepseek-next")
    );
    assert!(!p
        .channel_template
        .model_mapping
        .contains_key("deepseek-v4-pro"));
    // The old id still resolves, to its successor.
    assert_eq!(
        p.canonical_model("deepseek-v4-pro"),
        Some("deepseek-v4-pro-2026-09-01")
    );
    assert_eq!(
        p.canonical_model("v4 pro"),
        Some("deepseek-v4-pro-2026-09-01")
    );
    // Other providers are untouched.
    assert_eq!(proposed.provider("glm"), pack.provider("glm"));
    let text = String::from_utf8(proposal.files[PROPOSAL_FILE].clone()).unwrap();
    assert!(text.contains("added deepseek-next"), "{text}");
    assert!(
        text.contains("renamed deepseek-v4-pro → deepseek-v4-pro-2026-09-01"),
        "{text}"
    );
    assert!(
        proposal.patch.contains("+    \"deepseek-next\""),
        "{}",
        proposal.patch
    );
    assert!(
        proposal.patch.contains("-  \"version\": \"1.0.0\""),
        "{}",
        proposal.patch
    );
    assert!(proposal.patch.contains("--- a/providers/deepseek.json"));
}

#[test]
fn retiring_every_model_keeps_them() {
    let pack = real();
    let deepseek = pack.provider("deepseek").unwrap();
    let drift = model_drift(deepseek, &ids(&["something-else-entirely"]));
    assert_eq!(drift.added, ids(&["something-else-entirely"]));
    let proposal = propose(&pack, "deepseek", &drift, "test").unwrap();
    let proposed = Pack::from_files(proposal.files).unwrap();
    let p = proposed.provider("deepseek").unwrap();
    // An added model keeps the provider usable, so the retired ones go.
    assert_eq!(p.default_models, ids(&["something-else-entirely"]));
    assert_eq!(p.smoke_test_model, "something-else-entirely");
}

#[test]
fn unified_diff_marks_only_changed_lines() {
    let d = relay_pack::propose::unified_diff("f", "a\nb\nc\n", "a\nB\nc\n");
    assert_eq!(d, "--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n");
    assert!(relay_pack::propose::unified_diff("f", "x\n", "x\n").is_empty());
}
