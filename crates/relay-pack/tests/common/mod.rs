//! Helpers shared by the relay-pack integration tests.

use std::collections::BTreeMap;
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use relay_pack::{PackError, Problem};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

/// Workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The real pack shipped with the project.
pub fn real_pack_dir() -> PathBuf {
    workspace().join("packs/openai-cn-pack")
}

/// A fixture pack directory.
pub fn fixture(name: &str) -> PathBuf {
    workspace().join("fixtures/packs").join(name)
}

/// A fresh, empty temporary directory unique to this test process and call.
pub fn temp_dir(label: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "relay-pack-test-{}-{}-{label}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Every file of a directory, by relative `/` path.
pub fn read_tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut pending = vec![(dir.to_owned(), String::new())];
    while let Some((path, prefix)) = pending.pop() {
        for entry in std::fs::read_dir(&path).unwrap() {
            let entry = entry.unwrap();
            let name = format!("{prefix}{}", entry.file_name().to_str().unwrap());
            if entry.file_type().unwrap().is_dir() {
                pending.push((entry.path(), format!("{name}/")));
            } else {
                out.insert(name, std::fs::read(entry.path()).unwrap());
            }
        }
    }
    out
}

/// Writes `files` into `dir`.
pub fn write_tree(dir: &Path, files: &BTreeMap<String, Vec<u8>>) {
    for (path, bytes) in files {
        let target = dir.join(path);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(target, bytes).unwrap();
    }
}

/// Deflate options for test archives.
pub fn deflated() -> SimpleFileOptions {
    SimpleFileOptions::default().compression_method(CompressionMethod::Deflated)
}

/// Builds a zip of `files`, each under `prefix` (e.g. `""` or `"pack/"`).
pub fn zip_files(files: &BTreeMap<String, Vec<u8>>, prefix: &str) -> Vec<u8> {
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    if !prefix.is_empty() {
        writer.add_directory(prefix, deflated()).unwrap();
    }
    for (path, bytes) in files {
        writer
            .start_file(format!("{prefix}{path}"), deflated())
            .unwrap();
        writer.write_all(bytes).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

/// The problems of an invalid pack; panics on success or another error.
pub fn problems(result: Result<relay_pack::Pack, PackError>) -> Vec<Problem> {
    match result {
        Err(PackError::Invalid(problems)) => problems,
        Err(other) => panic!("expected PackError::Invalid, got {other:?}"),
        Ok(pack) => panic!("expected an invalid pack, got {}", pack.manifest.pack_id),
    }
}

/// Shorthand for a problem.
pub fn p(file: &str, field: Option<&str>, message: &str) -> Problem {
    Problem::new(file, field, message)
}
