//! Zip-slip and zip-bomb safe reading of a pack archive into memory.
//!
//! Every entry is checked before any content is read: no absolute paths, no `..`
//! components, no symlinks, at most [`MAX_ENTRIES`] entries, each at most
//! [`MAX_ENTRY_BYTES`] and all together at most [`MAX_TOTAL_BYTES`] uncompressed. Declared
//! sizes can lie, so content is then read through a bounded reader that enforces the same limits.
//! Nothing is ever written to disk.

use std::collections::BTreeMap;
use std::io::{Cursor, Read};

use thiserror::Error;

use crate::{PackError, MAX_ENTRIES, MAX_ENTRY_BYTES, MAX_TOTAL_BYTES};

/// Why an archive was refused before its content was trusted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UnsafeZip {
    /// An entry name is absolute (`/x`, `\x` or `C:…`).
    #[error("entry \"{0}\" has an absolute path")]
    AbsolutePath(String),
    /// An entry name has a `..` component.
    #[error("entry \"{0}\" has a \"..\" path component")]
    ParentComponent(String),
    /// An entry is a symbolic link.
    #[error("entry \"{0}\" is a symbolic link")]
    Symlink(String),
    /// An entry name is empty, not UTF-8, or holds a control character.
    #[error("entry {0:?} has an invalid name")]
    InvalidName(String),
    /// Two entries resolve to the same path.
    #[error("entry \"{0}\" appears more than once")]
    DuplicateEntry(String),
    /// The archive has too many entries.
    #[error("archive has {count} entries, more than the limit of {limit}")]
    TooManyEntries {
        /// Entries in the archive.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// One entry is (or declares itself) larger than the per-entry limit.
    #[error("entry \"{name}\" is larger than the limit of {limit} bytes uncompressed")]
    EntryTooLarge {
        /// Entry name.
        name: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// All entries together are larger than the total limit.
    #[error("archive content is larger than the limit of {limit} bytes uncompressed")]
    TotalTooLarge {
        /// The limit in bytes.
        limit: u64,
    },
}

/// Largest archive file [`crate::load_zip`] will read.
pub const MAX_ARCHIVE_BYTES: u64 = MAX_TOTAL_BYTES + 8 * 1024 * 1024;

/// Reads every file entry of a zip archive into memory, keyed by its path inside the pack
/// (with a single common top-level directory stripped when there is no root `pack.json`).
pub(crate) fn read_archive(bytes: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, PackError> {
    let mut archive =
        zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| PackError::Archive(e.to_string()))?;
    if archive.len() > MAX_ENTRIES {
        return Err(UnsafeZip::TooManyEntries {
            count: archive.len(),
            limit: MAX_ENTRIES,
        }
        .into());
    }

    // Pass 1: names, types and declared sizes only.
    let mut plan: Vec<(usize, String)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut declared_total: u64 = 0;
    for index in 0..archive.len() {
        let entry = archive
            .by_index_raw(index)
            .map_err(|e| PackError::Archive(e.to_string()))?;
        let raw = String::from_utf8_lossy(entry.name_raw()).into_owned();
        let name = check_name(&raw)?;
        if entry
            .unix_mode()
            .is_some_and(|mode| mode & 0o170000 == 0o120000)
        {
            return Err(UnsafeZip::Symlink(raw).into());
        }
        if entry.is_dir() {
            continue;
        }
        if entry.size() > MAX_ENTRY_BYTES {
            return Err(UnsafeZip::EntryTooLarge {
                name: raw,
                limit: MAX_ENTRY_BYTES,
            }
            .into());
        }
        declared_total = declared_total.saturating_add(entry.size());
        if declared_total > MAX_TOTAL_BYTES {
            return Err(UnsafeZip::TotalTooLarge {
                limit: MAX_TOTAL_BYTES,
            }
            .into());
        }
        if !seen.insert(name.clone()) {
            return Err(UnsafeZip::DuplicateEntry(name).into());
        }
        plan.push((index, name));
    }

    // Pass 2: content, through readers bounded by the limits rather than the declared sizes.
    let mut files = BTreeMap::new();
    let mut total: u64 = 0;
    for (index, name) in plan {
        let entry = archive
            .by_index(index)
            .map_err(|e| PackError::Archive(format!("{name}: {e}")))?;
        let budget = MAX_ENTRY_BYTES.min(MAX_TOTAL_BYTES - total);
        let mut content = Vec::new();
        entry
            .take(budget + 1)
            .read_to_end(&mut content)
            .map_err(|e| PackError::Archive(format!("{name}: {e}")))?;
        let read = content.len() as u64;
        if read > MAX_ENTRY_BYTES {
            return Err(UnsafeZip::EntryTooLarge {
                name,
                limit: MAX_ENTRY_BYTES,
            }
            .into());
        }
        if read > budget {
            return Err(UnsafeZip::TotalTooLarge {
                limit: MAX_TOTAL_BYTES,
            }
            .into());
        }
        total += read;
        files.insert(name, content);
    }
    Ok(strip_single_top_directory(files))
}

/// Validates an entry name and returns it with `\` turned into `/` and no trailing `/`.
fn check_name(raw: &str) -> Result<String, UnsafeZip> {
    let name = raw.replace('\\', "/");
    let bytes = name.as_bytes();
    let drive = bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    if name.starts_with('/') || drive {
        return Err(UnsafeZip::AbsolutePath(raw.to_owned()));
    }
    if name.split('/').any(|c| c == "..") {
        return Err(UnsafeZip::ParentComponent(raw.to_owned()));
    }
    let trimmed = name.trim_end_matches('/');
    if trimmed.is_empty() || raw.contains('\u{fffd}') || trimmed.chars().any(char::is_control) {
        return Err(UnsafeZip::InvalidName(raw.to_owned()));
    }
    let clean: Vec<&str> = trimmed
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    if clean.is_empty() {
        return Err(UnsafeZip::InvalidName(raw.to_owned()));
    }
    Ok(clean.join("/"))
}

/// A zip may hold the pack at its root or under exactly one top-level directory.
fn strip_single_top_directory(files: BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Vec<u8>> {
    if files.contains_key("pack.json") {
        return files;
    }
    let mut tops = files.keys().map(|p| p.split_once('/').map(|(top, _)| top));
    let Some(Some(first)) = tops.next() else {
        return files;
    };
    let first = first.to_owned();
    if !tops.all(|t| t == Some(first.as_str())) {
        return files;
    }
    let prefix = format!("{first}/");
    files
        .into_iter()
        .map(|(path, bytes)| (path[prefix.len()..].to_owned(), bytes))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(check_name("a\\b/./c").unwrap(), "a/b/c");
        assert_eq!(check_name("dir/").unwrap(), "dir");
        assert_eq!(
            check_name("C:/x"),
            Err(UnsafeZip::AbsolutePath("C:/x".into()))
        );
        assert_eq!(
            check_name("\\x"),
            Err(UnsafeZip::AbsolutePath("\\x".into()))
        );
        assert_eq!(
            check_name("a/../b"),
            Err(UnsafeZip::ParentComponent("a/../b".into()))
        );
        assert_eq!(check_name("./"), Err(UnsafeZip::InvalidName("./".into())));
    }

    #[test]
    fn strips_only_a_single_common_directory() {
        let mk = |paths: &[&str]| {
            paths
                .iter()
                .map(|p| (p.to_string(), Vec::new()))
                .collect::<BTreeMap<_, _>>()
        };
        let stripped = strip_single_top_directory(mk(&["p/pack.json", "p/providers/a.json"]));
        assert_eq!(
            stripped.keys().collect::<Vec<_>>(),
            ["pack.json", "providers/a.json"]
        );
        let two = mk(&["p/pack.json", "q/x"]);
        assert_eq!(strip_single_top_directory(two.clone()), two);
        let root = mk(&["pack.json", "p/x"]);
        assert_eq!(strip_single_top_directory(root.clone()), root);
    }
}
