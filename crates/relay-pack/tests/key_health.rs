//! The `key_health` policy of a pack: a pack-level default, a per-provider override,
//! the domain default when both are absent, and clear field errors.

use std::collections::BTreeMap;

use relay_pack::checksums::render;
use relay_pack::{Pack, PackError, CHECKSUMS_FILE};
use serde_json::Value;

use crate::common::{read_tree, real_pack_dir};

fn edit(path: &str, files: &mut BTreeMap<String, Vec<u8>>, f: impl FnOnce(&mut Value)) {
    let mut v: Value = serde_json::from_slice(&files[path]).expect("JSON");
    f(&mut v);
    files.insert(path.into(), serde_json::to_vec(&v).expect("JSON"));
}

fn load(files: BTreeMap<String, Vec<u8>>) -> Result<Pack, PackError> {
    let mut files = files;
    files.remove(CHECKSUMS_FILE);
    let sums = render(files.iter().map(|(p, b)| (p.as_str(), b.as_slice())));
    files.insert(CHECKSUMS_FILE.to_owned(), sums.into_bytes());
    Pack::from_files(files)
}

#[test]
fn the_default_is_three_failures_in_an_hour() {
    let pack = load(read_tree(&real_pack_dir())).expect("the real pack loads");
    let p = pack.provider("deepseek").expect("deepseek");
    assert_eq!(p.key_health, None);
    let policy = p.health_policy();
    assert_eq!(policy.max_failures, 3);
    assert_eq!(policy.window_secs, 3600);
}

#[test]
fn a_provider_overrides_the_packs_default() {
    let mut files = read_tree(&real_pack_dir());
    edit("pack.json", &mut files, |v| {
        v["key_health"] = serde_json::json!({"max_failures": 5, "window_minutes": 30});
    });
    edit("providers/deepseek.json", &mut files, |v| {
        v["key_health"] = serde_json::json!({"max_failures": 2, "window_minutes": 10});
    });
    let pack = load(files).expect("loads");
    let d = pack.provider("deepseek").unwrap().health_policy();
    assert_eq!((d.max_failures, d.window_secs), (2, 600));
    let m = pack.provider("moonshot").unwrap().health_policy();
    assert_eq!((m.max_failures, m.window_secs), (5, 1800));
}

#[test]
fn bad_settings_are_named_field_by_field() {
    let mut files = read_tree(&real_pack_dir());
    edit("pack.json", &mut files, |v| {
        v["key_health"] = serde_json::json!({"max_failures": 0, "window_minutes": 60, "burst": 1});
    });
    edit("providers/deepseek.json", &mut files, |v| {
        v["key_health"] = serde_json::json!({"max_failures": 3, "window_minutes": 20000});
    });
    edit("providers/moonshot.json", &mut files, |v| {
        v["key_health"] = serde_json::json!(3);
    });
    let Err(PackError::Invalid(problems)) = load(files) else {
        panic!("the pack must be refused");
    };
    let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
    let has = |file: &str, field: &str, text: &str| {
        problems.iter().any(|p| {
            p.file == file && p.field.as_deref() == Some(field) && p.message.contains(text)
        })
    };
    assert!(
        has("pack.json", "key_health.max_failures", "between 1 and 100"),
        "{lines:?}"
    );
    assert!(
        has("pack.json", "key_health.burst", "unknown field"),
        "{lines:?}"
    );
    assert!(
        has(
            "providers/deepseek.json",
            "key_health.window_minutes",
            "between 1 and 10080"
        ),
        "{lines:?}"
    );
    assert!(
        has("providers/moonshot.json", "key_health", "must be an object"),
        "{lines:?}"
    );
}
