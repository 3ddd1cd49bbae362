//! Unsafe archives are refused before their content is trusted. Archives are built here, at
//! run time, with the `zip` writer.

use std::collections::BTreeMap;
use std::io::{Cursor, Write};

use crate::common::{deflated, read_tree, real_pack_dir, zip_files};
use relay_pack::{
    load_zip_bytes, PackError, UnsafeZip, MAX_ENTRIES, MAX_ENTRY_BYTES, MAX_TOTAL_BYTES,
};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

/// The real pack as a zip, plus whatever `extra` adds to the archive.
fn real_pack_zip_with(extra: impl FnOnce(&mut ZipWriter<Cursor<Vec<u8>>>)) -> Vec<u8> {
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    for (path, bytes) in read_tree(&real_pack_dir()) {
        writer.start_file(path, deflated()).unwrap();
        writer.write_all(&bytes).unwrap();
    }
    extra(&mut writer);
    writer.finish().unwrap().into_inner()
}

fn unsafe_reason(bytes: &[u8]) -> UnsafeZip {
    match load_zip_bytes(bytes) {
        Err(PackError::UnsafeZip(reason)) => reason,
        other => panic!("expected PackError::UnsafeZip, got {other:?}"),
    }
}

fn add(writer: &mut ZipWriter<Cursor<Vec<u8>>>, name: &str, bytes: &[u8]) {
    writer.start_file(name, deflated()).unwrap();
    writer.write_all(bytes).unwrap();
}

#[test]
fn the_untouched_archive_is_accepted() {
    assert!(load_zip_bytes(&real_pack_zip_with(|_| {})).is_ok());
}

#[test]
fn absolute_paths_are_refused() {
    let zip = real_pack_zip_with(|w| add(w, "/etc/cron.d/evil", b"x"));
    assert_eq!(
        unsafe_reason(&zip),
        UnsafeZip::AbsolutePath("/etc/cron.d/evil".into())
    );
    let zip = real_pack_zip_with(|w| add(w, "C:\\evil.txt", b"x"));
    assert_eq!(
        unsafe_reason(&zip),
        UnsafeZip::AbsolutePath("C:\\evil.txt".into())
    );
}

#[test]
fn parent_components_are_refused() {
    let zip = real_pack_zip_with(|w| add(w, "overlays/../../evil.sh", b"x"));
    let reason = unsafe_reason(&zip);
    assert_eq!(
        reason,
        UnsafeZip::ParentComponent("overlays/../../evil.sh".into())
    );
    assert_eq!(
        reason.to_string(),
        "entry \"overlays/../../evil.sh\" has a \"..\" path component"
    );
}

#[test]
fn symlinks_are_refused() {
    let zip = real_pack_zip_with(|w| {
        w.add_symlink("overlays/passwd.md", "/etc/passwd", deflated())
            .unwrap()
    });
    assert_eq!(
        unsafe_reason(&zip),
        UnsafeZip::Symlink("overlays/passwd.md".into())
    );
}

#[test]
fn too_many_entries_are_refused() {
    let zip = real_pack_zip_with(|w| {
        for i in 0..MAX_ENTRIES {
            add(w, &format!("overlays/n{i}.md"), b"");
        }
    });
    let count = read_tree(&real_pack_dir()).len() + MAX_ENTRIES;
    assert_eq!(
        unsafe_reason(&zip),
        UnsafeZip::TooManyEntries {
            count,
            limit: MAX_ENTRIES
        }
    );
}

#[test]
fn an_oversized_entry_is_refused() {
    let big = vec![0u8; MAX_ENTRY_BYTES as usize + 1];
    let zip = real_pack_zip_with(|w| add(w, "overlays/big.md", &big));
    assert_eq!(
        unsafe_reason(&zip),
        UnsafeZip::EntryTooLarge {
            name: "overlays/big.md".into(),
            limit: MAX_ENTRY_BYTES
        }
    );
}

#[test]
fn an_oversized_total_is_refused() {
    // Stored entries just under the per-entry limit, adding up to more than the total limit.
    let chunk = vec![0u8; MAX_ENTRY_BYTES as usize];
    let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    let zip = real_pack_zip_with(|w| {
        for i in 0..=(MAX_TOTAL_BYTES / MAX_ENTRY_BYTES) {
            w.start_file(format!("overlays/chunk{i}.bin"), stored)
                .unwrap();
            w.write_all(&chunk).unwrap();
        }
    });
    assert_eq!(
        unsafe_reason(&zip),
        UnsafeZip::TotalTooLarge {
            limit: MAX_TOTAL_BYTES
        }
    );
}

/// Overwrites every declared uncompressed size of the entry named `name` (local header and
/// central directory record) with `size`.
fn lie_about_size(zip: &mut [u8], name: &str, size: u32) -> usize {
    let mut patched = 0;
    let name = name.as_bytes();
    for i in 0..zip.len().saturating_sub(46) {
        let (sig, size_at, name_len_at, name_at) = match zip[i..i + 4] {
            [0x50, 0x4b, 0x03, 0x04] => ("local", i + 22, i + 26, i + 30),
            [0x50, 0x4b, 0x01, 0x02] => ("central", i + 24, i + 28, i + 46),
            _ => continue,
        };
        let name_len = u16::from_le_bytes([zip[name_len_at], zip[name_len_at + 1]]) as usize;
        if zip.get(name_at..name_at + name_len) == Some(name) {
            zip[size_at..size_at + 4].copy_from_slice(&size.to_le_bytes());
            patched += 1;
            let _ = sig;
        }
    }
    patched
}

#[test]
fn a_lying_declared_size_is_caught_while_reading() {
    let big = vec![b'a'; MAX_ENTRY_BYTES as usize + 4096];
    let mut zip = real_pack_zip_with(|w| add(w, "overlays/bomb.md", &big));
    assert_eq!(lie_about_size(&mut zip, "overlays/bomb.md", 10), 2);
    assert_eq!(
        unsafe_reason(&zip),
        UnsafeZip::EntryTooLarge {
            name: "overlays/bomb.md".into(),
            limit: MAX_ENTRY_BYTES
        }
    );
}

#[test]
fn duplicate_entries_after_normalisation_are_refused() {
    let zip = real_pack_zip_with(|w| add(w, "./pack.json", b"{}"));
    assert_eq!(
        unsafe_reason(&zip),
        UnsafeZip::DuplicateEntry("pack.json".into())
    );
}

#[test]
fn garbage_is_an_archive_error_not_a_panic() {
    assert!(matches!(
        load_zip_bytes(b"not a zip"),
        Err(PackError::Archive(_))
    ));
    let files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let empty = zip_files(&files, "");
    let problems = crate::common::problems(load_zip_bytes(&empty));
    assert_eq!(problems.len(), 3, "{problems:?}");
}
