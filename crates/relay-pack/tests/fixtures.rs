//! Every SPEC §4.2 rejection, proven on a committed fixture pack with its exact problems.

use crate::common::{fixture, p, problems};
use relay_pack::checksums::{parse_line, sha256_hex};
use relay_pack::load_dir;

fn load(name: &str) -> Vec<relay_pack::Problem> {
    problems(load_dir(&fixture(name)))
}

#[test]
fn valid_minimal_fixture_loads() {
    let pack = load_dir(&fixture("valid-minimal")).unwrap();
    assert_eq!(pack.manifest.pack_id, "fixture-pack");
    assert_eq!(pack.providers.len(), 1);
    assert_eq!(
        pack.providers[0].canonical_model("DeepSeek V4 Flash"),
        Some("deepseek-flash")
    );
}

#[test]
fn missing_pack_json() {
    assert_eq!(
        load("missing-pack-json"),
        [p("pack.json", None, "file is missing")]
    );
}

#[test]
fn invalid_pack_json_reports_line_and_column() {
    assert_eq!(
        load("invalid-pack-json"),
        [p(
            "pack.json",
            None,
            "invalid JSON at line 4, column 1: trailing comma"
        )]
    );
}

#[test]
fn pack_json_missing_fields_are_each_reported() {
    assert_eq!(
        load("pack-json-missing-fields"),
        [
            p(
                "pack.json",
                Some("descripton"),
                "unknown field \"descripton\" (expected one of: pack_id, version, name, description, host_compat, key_health)"
            ),
            p("pack.json", Some("pack_id"), "pack_id \"Fixture_Pack\" must match ^[a-z0-9][a-z0-9-]*$"),
            p("pack.json", Some("version"), "missing required field \"version\""),
            p("pack.json", Some("name"), "missing required field \"name\""),
            p("pack.json", Some("description"), "missing required field \"description\""),
            p("pack.json", Some("host_compat"), "missing required field \"host_compat\""),
        ]
    );
}

#[test]
fn no_providers() {
    assert_eq!(
        load("no-providers"),
        [p(
            "providers/",
            None,
            "the pack has no provider manifests (expected providers/<provider_id>.json)"
        )]
    );
}

#[test]
fn duplicate_provider_id_names_both_files() {
    assert_eq!(
        load("duplicate-provider-id"),
        [
            p(
                "providers/deepseek-copy.json",
                Some("provider_id"),
                "provider_id \"deepseek\" does not match the file name (expected providers/deepseek.json)"
            ),
            p(
                "providers/deepseek.json",
                Some("provider_id"),
                "provider_id \"deepseek\" is also declared by providers/deepseek-copy.json"
            ),
        ]
    );
}

#[test]
fn checksum_mismatch_names_both_digests() {
    let dir = fixture("checksum-mismatch");
    let listed = std::fs::read_to_string(dir.join("checksums.txt"))
        .unwrap()
        .lines()
        .map(|l| parse_line(l).unwrap())
        .find(|e| e.path == "providers/deepseek.json")
        .unwrap()
        .digest;
    let actual = sha256_hex(&std::fs::read(dir.join("providers/deepseek.json")).unwrap());
    assert_ne!(listed, actual);
    assert_eq!(
        load("checksum-mismatch"),
        [p(
            "providers/deepseek.json",
            None,
            &format!("SHA-256 mismatch: checksums.txt has {listed}, the file hashes to {actual}")
        )]
    );
}

#[test]
fn file_missing_from_checksums() {
    assert_eq!(
        load("file-missing-from-checksums"),
        [p(
            "overlays/note.md",
            None,
            "file is not listed in checksums.txt"
        )]
    );
}

#[test]
fn listed_but_absent_file() {
    assert_eq!(
        load("listed-but-absent"),
        [p(
            "checksums.txt",
            None,
            "line 3: lists \"providers/moonshot.json\", which is not in the pack"
        )]
    );
}

#[test]
fn missing_checksums() {
    assert_eq!(
        load("missing-checksums"),
        [p(
            "checksums.txt",
            None,
            "file is missing (it must list the SHA-256 of every other pack file)"
        )]
    );
}

#[test]
fn malformed_checksum_lines() {
    assert_eq!(
        load("malformed-checksums"),
        [
            p(
                "checksums.txt",
                None,
                "line 2: expected 64 hex digits, two spaces and a path (sha256sum format)"
            ),
            p(
                "checksums.txt",
                None,
                "line 4: expected two spaces (or \" *\") between the digest and the path"
            ),
        ]
    );
}

#[test]
fn non_https_base_url() {
    assert_eq!(
        load("non-https-base-url"),
        [p(
            "providers/deepseek.json",
            Some("base_url"),
            "base_url \"http://api.deepseek.com\" must use https (scheme is \"http\")"
        )]
    );
}

#[test]
fn unparsable_base_url() {
    assert_eq!(
        load("unparsable-base-url"),
        [p(
            "providers/deepseek.json",
            Some("base_url"),
            "base_url \"https//api.deepseek.com\" is not an absolute URL"
        )]
    );
}

#[test]
fn empty_default_models() {
    assert_eq!(
        load("empty-default-models"),
        [
            p(
                "providers/deepseek.json",
                Some("default_models"),
                "default_models must not be empty"
            ),
            p(
                "providers/deepseek.json",
                Some("smoke_test_model"),
                "smoke_test_model \"deepseek-flash\" is not in default_models"
            ),
        ]
    );
}

#[test]
fn smoke_model_not_in_defaults() {
    let problems = load("smoke-model-not-in-defaults");
    assert_eq!(
        problems,
        [p(
            "providers/deepseek.json",
            Some("smoke_test_model"),
            "smoke_test_model \"deepseek-chat\" is not in default_models"
        )]
    );
    assert_eq!(
        problems[0].to_string(),
        "providers/deepseek.json: smoke_test_model \"deepseek-chat\" is not in default_models"
    );
}

#[test]
fn invalid_semver_version() {
    assert_eq!(
        load("invalid-semver-version"),
        [p(
            "pack.json",
            Some("version"),
            "version \"1.0\" is not valid semver: unexpected end of input while parsing minor version number"
        )]
    );
}

#[test]
fn invalid_host_compat() {
    assert_eq!(
        load("invalid-host-compat"),
        [p(
            "pack.json",
            Some("host_compat"),
            "host_compat \">=abc\" is not a valid semver requirement: unexpected character 'a' while parsing major version number"
        )]
    );
}

#[test]
fn invalid_provider_json_reports_line_and_column() {
    assert_eq!(
        load("invalid-provider-json"),
        [p(
            "providers/moonshot.json",
            None,
            "invalid JSON at line 3, column 3: expected `,` or `}`"
        )]
    );
}

#[test]
fn every_field_problem_of_a_manifest_is_reported_at_once() {
    let f = "providers/deepseek.json";
    assert_eq!(
        load("bad-provider-fields"),
        [
            p(f, Some("smoke_test_modle"), "unknown field \"smoke_test_modle\" (expected one of: provider_id, display_name, platform, native_platform, account_type, base_url, default_models, smoke_test_model, model_aliases, key_hint, group_template, channel_template, plan_template, capabilities, force_disable_openai_responses_api, host_overlays, key_health)"),
            p(f, Some("provider_id"), "provider_id \"deep-seek\" does not match the file name (expected providers/deep-seek.json)"),
            p(f, Some("platform"), "platform \"azure\" is not one of openai, anthropic, gemini, antigravity, grok, kimi, zhipu, deepseek, composite"),
            p(f, Some("account_type"), "account_type \"oauth\" is not one of apikey, upstream"),
            p(f, Some("model_aliases.kimi 2.6"), "model_aliases \"kimi 2.6\" targets \"kimi-k2.6\", which is not in default_models"),
            p(f, Some("key_hint.pattern"), "key_hint.pattern: unknown class \"word\" (expected hex, digit, alpha, alnum, token or any)"),
            p(f, Some("group_template.rate_multiplier"), "group_template.rate_multiplier must be a finite number > 0 (got 0)"),
            p(f, Some("channel_template.model_pricing[0].models"), "channel_template.model_pricing[0].models: \"deepseek-chat\" is not in default_models"),
            p(f, Some("channel_template.model_pricing[0].input_price"), "channel_template.model_pricing[0].input_price must be a finite number >= 0 (got -1)"),
            p(f, Some("channel_template.billing_model_source"), "channel_template.billing_model_source \"requested_model\" is not one of requested, upstream, channel_mapped"),
            p(f, Some("channel_template.restrict_models"), "channel_template.restrict_models is true but default model \"deepseek-flash\" has no model_pricing entry"),
            p(f, Some("channel_template.restrict_models"), "channel_template.restrict_models is true but default model \"deepseek-v4-pro\" has no model_pricing entry"),
            p(f, Some("plan_template.validity_days"), "plan_template.validity_days must be > 0"),
            p(f, Some("plan_template.validity_unit"), "plan_template.validity_unit \"year\" is not one of day, week, month"),
            p(f, Some("capabilities.responses_api"), "capabilities.responses_api: invalid type: string \"yes\", expected a boolean"),
            p(f, Some("capabilities.tools"), "missing required field \"capabilities.tools\""),
            p(f, Some("force_disable_openai_responses_api"), "missing required field \"force_disable_openai_responses_api\""),
            p(f, Some("host_overlays[0].host_version"), "host_overlays[0].host_version \"0.1.x.y\" is not a valid semver requirement: expected comma after patch version number, found '.'"),
            p(f, Some("host_overlays[0].note"), "host_overlays[0].note must not be empty"),
        ]
    );
}

/// The unsafe archives committed under `fixtures/packs/zip/` (each the real pack plus
/// one hostile entry) are refused before anything is read, with the precise reason.
#[test]
fn committed_unsafe_zip_fixtures_are_refused_precisely() {
    use relay_pack::{load_zip, PackError, UnsafeZip};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/packs/zip");
    let reason = |name: &str| match load_zip(&dir.join(name)) {
        Err(PackError::UnsafeZip(u)) => u,
        other => panic!("{name}: expected an unsafe-zip refusal, got {other:?}"),
    };
    assert_eq!(
        reason("absolute-path.zip"),
        UnsafeZip::AbsolutePath("/etc/cron.d/evil".into())
    );
    assert_eq!(
        reason("parent-component.zip"),
        UnsafeZip::ParentComponent("overlays/../../evil.sh".into())
    );
    assert_eq!(
        reason("symlink.zip"),
        UnsafeZip::Symlink("overlays/passwd.md".into())
    );
    assert!(matches!(
        reason("too-many-entries.zip"),
        UnsafeZip::TooManyEntries { limit: 1000, .. }
    ));
    assert!(matches!(
        reason("oversized-entry.zip"),
        UnsafeZip::EntryTooLarge { ref name, .. } if name == "overlays/big.md"
    ));
    assert!(matches!(
        reason("oversized-total.zip"),
        UnsafeZip::TotalTooLarge { .. }
    ));
    // The message names the offending entry once.
    let text = load_zip(&dir.join("symlink.zip")).unwrap_err().to_string();
    assert_eq!(
        text,
        "unsafe zip: entry \"overlays/passwd.md\" is a symbolic link"
    );
}
