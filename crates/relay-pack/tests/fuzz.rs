//! Fuzz targets (property-based, `proptest`) for the pack reader: zip archives (random
//! bytes, mutations of the real pack's archive, hostile entry names, duplicates, small
//! bombs) and the manifests (mutated JSON, round trips).
//!
//! Every target runs `RELAY_FUZZ_CASES` cases (default [`DEFAULT_CASES`], so `cargo test`
//! stays quick); `RELAY_FUZZ_SEED` fixes the random seed. `cargo xtask fuzz` runs them for
//! a time budget with fresh seeds. Inputs are bounded, so no case can hang.

use std::collections::BTreeMap;
use std::io::{Cursor, Write};
use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use relay_pack::checksums::render;
use relay_pack::{
    load_zip_bytes, Pack, PackError, PackManifest, ProviderManifest, UnsafeZip, CHECKSUMS_FILE,
};
use serde_json::Value;
use zip::ZipWriter;

use crate::common::{deflated, read_tree, real_pack_dir, zip_files};

/// Cases per target when `RELAY_FUZZ_CASES` is unset (archive cases are the slowest).
const DEFAULT_CASES: u32 = 64;

fn config() -> Config {
    let cases = std::env::var("RELAY_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    let mut config = Config::with_cases(cases);
    // A fixed seed unless `RELAY_FUZZ_SEED` gives one: `cargo test` is reproducible, and
    // `cargo xtask fuzz` explores with fresh seeds.
    let seed = std::env::var("RELAY_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed);
    config.rng_seed = RngSeed::Fixed(seed);
    config
}

fn real_files() -> &'static BTreeMap<String, Vec<u8>> {
    static FILES: OnceLock<BTreeMap<String, Vec<u8>>> = OnceLock::new();
    FILES.get_or_init(|| read_tree(&real_pack_dir()))
}

fn real_zip() -> &'static [u8] {
    static ZIP: OnceLock<Vec<u8>> = OnceLock::new();
    ZIP.get_or_init(|| zip_files(real_files(), ""))
}

/// `files` with a fresh `checksums.txt`, so validation reaches the manifests.
fn with_checksums(mut files: BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Vec<u8>> {
    files.remove(CHECKSUMS_FILE);
    let sums = render(files.iter().map(|(p, b)| (p.as_str(), b.as_slice())));
    files.insert(CHECKSUMS_FILE.to_owned(), sums.into_bytes());
    files
}

/// Every error is one of the typed kinds of an archive in memory (never an I/O error:
/// nothing is read from or written to disk), and every text names what it refers to.
fn check_error(err: &PackError) -> Result<(), TestCaseError> {
    match err {
        PackError::Io { .. } => prop_assert!(false, "I/O error from bytes in memory: {err}"),
        PackError::Invalid(problems) => {
            prop_assert!(!problems.is_empty());
            for p in problems {
                prop_assert!(!p.file.is_empty(), "{p:?}");
                prop_assert!(!p.message.is_empty(), "{p:?}");
                if let Some(field) = &p.field {
                    prop_assert!(!field.is_empty(), "{p:?}");
                    prop_assert!(!field.chars().any(char::is_control), "{p:?}");
                }
            }
        }
        PackError::UnsafeZip(_) | PackError::Archive(_) => {}
    }
    prop_assert!(!err.to_string().is_empty());
    Ok(())
}

/// A loaded pack never holds a path that could escape its directory.
fn check_pack(pack: &Pack) -> Result<(), TestCaseError> {
    for path in pack.files.keys() {
        prop_assert!(!path.is_empty());
        prop_assert!(!path.starts_with('/') && !path.contains('\\'), "{path}");
        prop_assert!(
            path.split('/').all(|c| c != ".." && !c.is_empty()),
            "{path}"
        );
        prop_assert!(!path.chars().any(char::is_control), "{path:?}");
    }
    Ok(())
}

fn check_load(bytes: &[u8]) -> Result<(), TestCaseError> {
    match load_zip_bytes(bytes) {
        Ok(pack) => check_pack(&pack),
        Err(err) => check_error(&err),
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Truncate(usize),
    Flip(usize, u8),
    /// A byte flip in the archive's tail (central directory and end record: offsets,
    /// sizes, counts).
    FlipTail(usize, u8),
    Insert(usize, Vec<u8>),
    Remove(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (0usize..600, any::<u8>()).prop_map(|(i, b)| Mutation::FlipTail(i, b)),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..32))
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<usize>(), 0usize..64).prop_map(|(i, n)| Mutation::Remove(i, n)),
    ]
}

fn mutate(sample: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut out = sample.to_vec();
    for m in mutations {
        let len = out.len();
        match m {
            Mutation::Truncate(i) => out.truncate(i % (len + 1)),
            Mutation::Flip(i, b) if len > 0 => out[i % len] ^= b | 1,
            Mutation::FlipTail(i, b) if len > 0 => out[len - 1 - (i % len)] ^= b | 1,
            Mutation::Flip(..) | Mutation::FlipTail(..) => {}
            Mutation::Insert(i, bytes) => {
                let i = i % (len + 1);
                out.splice(i..i, bytes.iter().copied());
            }
            Mutation::Remove(i, n) => {
                let i = i % (len + 1);
                out.drain(i..(i + n).min(len));
            }
        }
    }
    out
}

/// Entry names an attacker would try, and some that are merely odd.
fn entry_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("pack.json".to_owned()),
        Just("providers/deepseek.json".to_owned()),
        Just("../evil.sh".to_owned()),
        Just("overlays/../../evil.sh".to_owned()),
        Just("/etc/passwd".to_owned()),
        Just("\\windows\\system32".to_owned()),
        Just("C:evil".to_owned()),
        Just("C:\\evil.txt".to_owned()),
        Just("providers\\deepseek.json".to_owned()),
        Just("./pack.json".to_owned()),
        Just("a//b".to_owned()),
        Just("pack/".to_owned()),
        Just("pack/pack.json".to_owned()),
        Just("overlays/x\u{0}.json".to_owned()),
        Just("overlays/\u{202e}nosj.txt".to_owned()),
        Just(String::new()),
        "[a-z./\\\\]{1,24}",
        "(\\.\\./|/|[a-z]{1,4}/){0,4}[a-z]{1,6}(\\.json)?",
    ]
}

/// An entry: name, content, whether a symlink, and a repeat count of zeros to
/// compress (a small bomb).
fn entry() -> impl Strategy<Value = (String, Vec<u8>, bool, usize)> {
    (
        entry_name(),
        prop::collection::vec(any::<u8>(), 0..64),
        prop::bool::weighted(0.05),
        prop_oneof![9 => Just(0usize), 1 => 1usize..(256 * 1024)],
    )
}

fn build_zip(base: bool, entries: &[(String, Vec<u8>, bool, usize)]) -> Vec<u8> {
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    if base {
        for (path, bytes) in real_files() {
            writer.start_file(path.as_str(), deflated()).unwrap();
            writer.write_all(bytes).unwrap();
        }
    }
    for (name, content, symlink, zeros) in entries {
        // The writer itself refuses some names (a duplicate of an entry it wrote):
        // such an entry is left out, the rest of the archive is still written.
        if *symlink {
            let _ = writer.add_symlink(name.as_str(), "../../etc/passwd", deflated());
            continue;
        }
        if writer.start_file(name.as_str(), deflated()).is_ok() {
            writer.write_all(content).unwrap();
            writer.write_all(&vec![0u8; *zeros]).unwrap();
        }
    }
    writer.finish().unwrap().into_inner()
}

/// An entry name as the reader keys it: `\\` as `/`, no empty or `.` components.
fn normalized(name: &str) -> String {
    name.replace('\\', "/")
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// A JSON value a broken or hostile manifest could hold.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        Just(serde_json::json!(u64::MAX)),
        Just(serde_json::json!(-1)),
        "(?s).{0,40}".prop_map(Value::String),
        Just(Value::String("\"'\n\u{0}../../x".to_owned())),
        Just(Value::String("x".repeat(5_000))),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Replaces (or removes) the value `path` leads to in `doc`; where the path ends early
/// on an object, adds `new` under `extra_key` instead.
fn edit_json(doc: &mut Value, path: &[usize], new: Option<Value>, extra_key: &str) {
    let Some((&step, rest)) = path.split_first() else {
        if let (Value::Object(map), Some(v)) = (doc, new) {
            map.insert(extra_key.to_owned(), v);
        }
        return;
    };
    match doc {
        Value::Object(map) if !map.is_empty() => {
            let key = map.keys().nth(step % map.len()).unwrap().clone();
            if rest.is_empty() {
                match new {
                    Some(v) => map.insert(key, v),
                    None => map.remove(&key),
                };
            } else {
                edit_json(map.get_mut(&key).unwrap(), rest, new, extra_key);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let i = step % items.len();
            if rest.is_empty() {
                match new {
                    Some(v) => items[i] = v,
                    None => {
                        items.remove(i);
                    }
                }
            } else {
                edit_json(&mut items[i], rest, new, extra_key);
            }
        }
        other => edit_json(other, &[], new, extra_key),
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn archive_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        check_load(&bytes)?;
    }

    #[test]
    fn archive_random_bytes_behind_a_zip_signature(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let mut framed = b"PK\x03\x04".to_vec();
        framed.extend_from_slice(&bytes);
        framed.extend_from_slice(b"PK\x05\x06");
        framed.extend_from_slice(&[0u8; 18]);
        check_load(&framed)?;
    }

    #[test]
    fn archive_mutations_of_the_real_pack(mutations in prop::collection::vec(mutation(), 1..6)) {
        check_load(&mutate(real_zip(), &mutations))?;
    }

    #[test]
    fn archive_hostile_entries(
        base in any::<bool>(),
        entries in prop::collection::vec(entry(), 1..6),
    ) {
        let bytes = build_zip(base, &entries);
        match load_zip_bytes(&bytes) {
            Ok(pack) => check_pack(&pack)?,
            Err(PackError::UnsafeZip(reason)) => {
                // The refusal names the entry it is about.
                let named = match &reason {
                    UnsafeZip::AbsolutePath(n)
                    | UnsafeZip::ParentComponent(n)
                    | UnsafeZip::Symlink(n)
                    | UnsafeZip::InvalidName(n)
                    | UnsafeZip::DuplicateEntry(n)
                    | UnsafeZip::EntryTooLarge { name: n, .. } => {
                        Some(entries.iter().any(|(e, ..)| {
                            e == n || normalized(e) == *n
                        }))
                    }
                    UnsafeZip::TooManyEntries { .. } | UnsafeZip::TotalTooLarge { .. } => None,
                };
                prop_assert!(named != Some(false), "{reason:?} names no entry of {entries:?}");
            }
            Err(err) => check_error(&err)?,
        }
    }

    #[test]
    fn manifest_mutations(
        file_pick in any::<prop::sample::Index>(),
        path in prop::collection::vec(any::<usize>(), 1..5),
        new in prop::option::weighted(0.85, json_value()),
        extra_key in "[a-z_]{1,12}",
    ) {
        let mut files = real_files().clone();
        let json_files: Vec<String> = files.keys().filter(|k| k.ends_with(".json")).cloned().collect();
        let file = file_pick.get(&json_files).clone();
        let mut doc: Value = serde_json::from_slice(&files[&file]).unwrap();
        edit_json(&mut doc, &path, new, &extra_key);
        files.insert(file.clone(), serde_json::to_vec_pretty(&doc).unwrap());
        match Pack::from_files(with_checksums(files)) {
            Ok(pack) => check_pack(&pack)?,
            Err(err) => {
                check_error(&err)?;
                if let PackError::Invalid(problems) = &err {
                    // The edited file is the one blamed (or a file that refers to it).
                    prop_assert!(
                        problems.iter().any(|p| p.file == file || p.file == "pack.json"
                            || p.file.starts_with("providers/")),
                        "{problems:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn manifest_text_mutations(
        file_pick in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let mut files = real_files().clone();
        let json_files: Vec<String> = files.keys().filter(|k| k.ends_with(".json")).cloned().collect();
        let file = file_pick.get(&json_files).clone();
        let text = mutate(&files[&file], &mutations);
        files.insert(file.clone(), text);
        match Pack::from_files(with_checksums(files)) {
            Ok(pack) => check_pack(&pack)?,
            Err(err) => check_error(&err)?,
        }
    }

    #[test]
    fn manifests_round_trip(provider in any::<prop::sample::Index>()) {
        let pack = Pack::from_files(real_files().clone()).unwrap();
        let text = serde_json::to_string(&pack.manifest).unwrap();
        let back: PackManifest = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(&back, &pack.manifest);
        let p = provider.get(&pack.providers);
        let text = serde_json::to_string_pretty(p).unwrap();
        let back: ProviderManifest = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(&back, p);
        // Written back into the pack, the serialised manifests load to the same pack.
        let mut files = real_files().clone();
        files.insert(format!("providers/{}.json", p.provider_id), text.into_bytes());
        files.insert("pack.json".to_owned(), serde_json::to_vec(&pack.manifest).unwrap());
        let again = Pack::from_files(with_checksums(files)).unwrap();
        prop_assert_eq!(&again.manifest, &pack.manifest);
        prop_assert_eq!(&again.providers, &pack.providers);
    }
}

// Regression tests: minimal inputs the targets above found.

/// A provider manifest with an unknown field whose name is empty (a cut in the text left
/// `"": …`): the problem named the field `""`, an empty path.
#[test]
fn regression_an_unknown_field_with_an_empty_or_odd_name_is_named() {
    for (key, field) in [
        ("", "[\"\"]"),
        ("a\nproviders/x.json: ok", "[\"a\\nproviders/x.json: ok\"]"),
        ("a.b", "[\"a.b\"]"),
        // JSON does not escape DEL: the field path does.
        ("\u{7f}output_price", "[\"\\u007foutput_price\"]"),
    ] {
        let mut files = real_files().clone();
        let path = "providers/minimax.json";
        let mut doc: Value = serde_json::from_slice(&files[path]).unwrap();
        doc.as_object_mut()
            .unwrap()
            .insert(key.to_owned(), Value::from(1));
        files.insert(path.to_owned(), serde_json::to_vec(&doc).unwrap());
        let problems = crate::common::problems(Pack::from_files(with_checksums(files)));
        let p = problems
            .iter()
            .find(|p| p.message.starts_with("unknown field"))
            .expect("an unknown-field problem");
        assert_eq!(p.file, path);
        assert_eq!(p.field.as_deref(), Some(field), "{p:?}");
        assert!(!p.message.contains('\n'), "{p:?}");
    }
}
