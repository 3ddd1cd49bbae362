//! Model packs: loading, validation, checksums and host compatibility.
//!
//! A pack is a directory or `.zip` holding `pack.json`, `providers/<provider_id>.json`,
//! `checksums.txt` and optional extra files (`overlays/…`, `README.md`) — see SPEC §2.
//! [`load_dir`], [`load_zip`] and [`load_zip_bytes`] read a pack and validate all of SPEC §4.2,
//! returning every problem at once in [`PackError::Invalid`]. Zip archives are checked for
//! zip-slip and zip-bomb tricks before any content is read ([`UnsafeZip`]).
//!
//! Decisions worth knowing:
//! - A provider manifest's `provider_id` must equal its file stem (`providers/deepseek.json`
//!   declares `deepseek`), so a pack's layout tells its providers at a glance.
//! - `checksums.txt` must list every other file, including `README.md` and `overlays/…`.
//! - Directories get the same limits as archives ([`MAX_ENTRIES`], [`MAX_ENTRY_BYTES`],
//!   [`MAX_TOTAL_BYTES`]) and may hold only directories and regular files: symbolic
//!   links, FIFOs, sockets and devices are reported as problems and never opened.
//!   Files are opened with `O_NOFOLLOW | O_NONBLOCK` and checked again on the open
//!   handle ([`open_regular_file`]), so a file swapped for a FIFO or a link in the
//!   meantime cannot block or redirect the reader.

#![warn(missing_docs)]

mod alias;
pub mod checksums;
pub mod drift;
pub mod key_hint;
mod manifest;
pub mod matching;
pub mod propose;
mod validate;
mod zip_safe;

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;
use thiserror::Error;

pub use alias::normalize_model_name;
pub use checksums::CHECKSUMS_FILE;
pub use drift::{model_drift, pack_models, ModelDrift, Rename};
pub use manifest::{
    AccountType, BillingMode, BillingModelSource, Capabilities, ChannelTemplate, GroupTemplate,
    HostOverlay, KeyHealthSettings, KeyHint, ModelPricing, NativePlatform, PackManifest,
    PlanTemplate, Platform, ProviderManifest, Severity, ValidityUnit,
};
pub use propose::{propose, Proposal, PROPOSAL_FILE};
pub use validate::{check_base_url, is_valid_id, PACK_FILE, PROVIDERS_DIR};
pub use zip_safe::{UnsafeZip, MAX_ARCHIVE_BYTES};

/// Most files (zip entries) a pack may hold.
pub const MAX_ENTRIES: usize = 1_000;
/// Largest single file of a pack, uncompressed (10 MiB).
pub const MAX_ENTRY_BYTES: u64 = 10 * 1024 * 1024;
/// Largest total size of a pack's files, uncompressed (50 MiB).
pub const MAX_TOTAL_BYTES: u64 = 50 * 1024 * 1024;

/// One thing wrong with a pack, naming the file and (when it applies) the field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Path of the file inside the pack, e.g. `providers/deepseek.json`.
    pub file: String,
    /// Field path inside the file, e.g. `smoke_test_model` or `host_overlays[0].note`.
    pub field: Option<String>,
    /// What is wrong, self-contained (it names the field too).
    pub message: String,
}

impl Problem {
    /// Builds a problem.
    pub fn new(file: impl Into<String>, field: Option<&str>, message: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            field: field.map(str::to_owned),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    /// `file: message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file, self.message)
    }
}

/// Why a pack could not be loaded.
#[derive(Debug, Error)]
pub enum PackError {
    /// The pack was read but is invalid; every problem found.
    #[error("invalid pack ({} problem(s)):\n{}", .0.len(), display_problems(.0))]
    Invalid(Vec<Problem>),
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The archive was refused as unsafe before its content was read.
    #[error("unsafe zip: {0}")]
    UnsafeZip(UnsafeZip),
    /// The archive is not a readable zip file.
    #[error("unreadable zip archive: {0}")]
    Archive(String),
}

impl From<UnsafeZip> for PackError {
    fn from(e: UnsafeZip) -> Self {
        PackError::UnsafeZip(e)
    }
}

fn display_problems(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl PackError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// A loaded, fully validated pack.
#[derive(Debug, Clone, PartialEq)]
pub struct Pack {
    /// `pack.json`.
    pub manifest: PackManifest,
    /// Provider manifests, sorted by `provider_id`.
    pub providers: Vec<ProviderManifest>,
    /// Every file of the pack (including `checksums.txt`), by relative `/`-separated path.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Lowercase hex SHA-256 of `checksums.txt`: identifies the exact pack content.
    pub source_digest: String,
}

impl Pack {
    /// The provider with this id.
    pub fn provider(&self, provider_id: &str) -> Option<&ProviderManifest> {
        self.providers.iter().find(|p| p.provider_id == provider_id)
    }

    /// Validates already collected files (path → bytes) as a pack.
    pub fn from_files(files: BTreeMap<String, Vec<u8>>) -> Result<Self, PackError> {
        Self::build(files, Vec::new())
    }

    fn build(files: BTreeMap<String, Vec<u8>>, problems: Vec<Problem>) -> Result<Self, PackError> {
        let validated = validate::validate(&files, problems).map_err(PackError::Invalid)?;
        let mut providers = validated.providers;
        providers.sort_by(|a, b| a.provider_id.cmp(&b.provider_id));
        let source_digest =
            checksums::sha256_hex(files.get(CHECKSUMS_FILE).map_or(&[][..], Vec::as_slice));
        Ok(Self {
            manifest: validated.manifest,
            providers,
            files,
            source_digest,
        })
    }
}

/// Loads and validates a pack directory.
pub fn load_dir(dir: &Path) -> Result<Pack, PackError> {
    let (files, problems) = collect_dir(dir)?;
    Pack::build(files, problems)
}

/// Opens a regular file for reading without following a symbolic link and without
/// blocking on a FIFO (`O_NOFOLLOW | O_NONBLOCK` on Unix), and checks on the open
/// handle that it is a regular file (`InvalidInput` otherwise).
pub fn open_regular_file(path: &Path) -> std::io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let file = options.open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok(file)
}

/// Loads and validates a pack `.zip` file (at most [`MAX_ARCHIVE_BYTES`]); only a
/// regular file is read ([`open_regular_file`]).
pub fn load_zip(path: &Path) -> Result<Pack, PackError> {
    let file = open_regular_file(path).map_err(|e| PackError::io(path, e))?;
    let mut bytes = Vec::new();
    file.take(MAX_ARCHIVE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| PackError::io(path, e))?;
    if bytes.len() as u64 > MAX_ARCHIVE_BYTES {
        return Err(UnsafeZip::TotalTooLarge {
            limit: MAX_TOTAL_BYTES,
        }
        .into());
    }
    load_zip_bytes(&bytes)
}

/// Loads and validates a pack from the bytes of a `.zip` archive (the pack at the archive
/// root or under exactly one top-level directory).
pub fn load_zip_bytes(bytes: &[u8]) -> Result<Pack, PackError> {
    let files = zip_safe::read_archive(bytes)?;
    Pack::build(files, Vec::new())
}

/// Computes `checksums.txt` for every file of `dir` (except `checksums.txt` itself), writes
/// it into `dir` and returns its content: sorted `/`-separated paths, `sha256sum` format.
pub fn write_checksums(dir: &Path) -> Result<String, PackError> {
    let (mut files, problems) = collect_dir(dir)?;
    if !problems.is_empty() {
        return Err(PackError::Invalid(problems));
    }
    files.remove(CHECKSUMS_FILE);
    let content = checksums::render(files.iter().map(|(p, b)| (p.as_str(), b.as_slice())));
    let target = dir.join(CHECKSUMS_FILE);
    fs::write(&target, &content).map_err(|e| PackError::io(&target, e))?;
    Ok(content)
}

/// A host version string that is not plain semver.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("host version \"{version}\" is not valid semver: {reason}")]
pub struct HostVersionError {
    /// The version as given.
    pub version: String,
    /// Why it does not parse.
    pub reason: String,
}

/// Parses a host version such as `0.1.131` or `v0.1.131` (surrounding whitespace and one
/// leading `v`/`V` are tolerated).
pub fn parse_host_version(version: &str) -> Result<semver::Version, HostVersionError> {
    let trimmed = version.trim();
    let bare = trimmed.strip_prefix(['v', 'V']).unwrap_or(trimmed);
    semver::Version::parse(bare).map_err(|e| HostVersionError {
        version: version.to_owned(),
        reason: e.to_string(),
    })
}

/// Whether a host of `host_version` satisfies the pack's `host_compat` requirement.
///
/// Semver rules apply: a pre-release host (`0.2.0-rc.1`) matches only requirements that name
/// a pre-release of the same version.
pub fn host_compatible(pack: &PackManifest, host_version: &str) -> Result<bool, HostVersionError> {
    Ok(pack.host_compat.matches(&parse_host_version(host_version)?))
}

/// Pack files by relative `/`-separated path.
type Files = BTreeMap<String, Vec<u8>>;

/// Reads every file under `dir` (sorted, relative `/` paths), enforcing the pack limits and
/// reporting symlinks, non-UTF-8 names and oversized files as problems.
fn collect_dir(dir: &Path) -> Result<(Files, Vec<Problem>), PackError> {
    let meta = fs::metadata(dir).map_err(|e| PackError::io(dir, e))?;
    if !meta.is_dir() {
        return Err(PackError::io(
            dir,
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a directory"),
        ));
    }
    let mut files = BTreeMap::new();
    let mut problems = Vec::new();
    let mut total: u64 = 0;
    let mut pending = vec![(dir.to_owned(), String::new())];
    while let Some((path, prefix)) = pending.pop() {
        let mut entries = fs::read_dir(&path)
            .map_err(|e| PackError::io(&path, e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| PackError::io(&path, e))?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                problems.push(Problem::new(
                    format!("{prefix}{}", entry.file_name().to_string_lossy()),
                    None,
                    "file name is not valid UTF-8",
                ));
                continue;
            };
            let rel = format!("{prefix}{name}");
            let kind = entry
                .file_type()
                .map_err(|e| PackError::io(&entry.path(), e))?;
            if kind.is_symlink() {
                problems.push(Problem::new(
                    rel,
                    None,
                    "symbolic links are not allowed in a pack",
                ));
            } else if kind.is_dir() {
                pending.push((entry.path(), format!("{rel}/")));
            } else if !kind.is_file() {
                problems.push(Problem::new(
                    rel,
                    None,
                    "only directories and regular files are allowed in a pack \
                     (not FIFOs, sockets or devices)",
                ));
            } else if files.len() >= MAX_ENTRIES {
                problems.push(Problem::new(
                    rel,
                    None,
                    format!("the pack has more than {MAX_ENTRIES} files"),
                ));
                return Ok((files, problems));
            } else {
                let size = entry
                    .metadata()
                    .map_err(|e| PackError::io(&entry.path(), e))?
                    .len();
                if size > MAX_ENTRY_BYTES {
                    problems.push(Problem::new(
                        rel,
                        None,
                        format!("file is larger than {MAX_ENTRY_BYTES} bytes"),
                    ));
                    continue;
                }
                total += size;
                if total > MAX_TOTAL_BYTES {
                    problems.push(Problem::new(
                        rel,
                        None,
                        format!("the pack is larger than {MAX_TOTAL_BYTES} bytes"),
                    ));
                    return Ok((files, problems));
                }
                let path = entry.path();
                let mut bytes = Vec::new();
                open_regular_file(&path)
                    .and_then(|f| f.take(MAX_ENTRY_BYTES + 1).read_to_end(&mut bytes))
                    .map_err(|e| PackError::io(&path, e))?;
                if bytes.len() as u64 > MAX_ENTRY_BYTES {
                    problems.push(Problem::new(
                        rel,
                        None,
                        format!("file is larger than {MAX_ENTRY_BYTES} bytes"),
                    ));
                    continue;
                }
                files.insert(rel, bytes);
            }
        }
    }
    Ok((files, problems))
}
