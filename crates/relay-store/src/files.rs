//! The data directory and the private files in it.
//!
//! - The data directory is created with mode `0700`; an existing directory that group
//!   or others can access is **refused** with the `chmod` that fixes it, and so is a
//!   private file (`master.key`, `admin.token`, a new key file) that group or others
//!   can access. Nothing is tightened behind the operator's back: a secret that was
//!   readable by others may have been read, and the operator should know.
//! - `relay.db` and its `-wal`/`-shm` files are the store's own: they are created
//!   `0600` whatever the umask (SQLite gives the WAL files the database file's mode),
//!   and an existing looser one is set to `0600` (reported by
//!   [`crate::Store::tightened_files`]).
//! - Private files are created atomically ([`create_private_file`]): the content is
//!   written and synced under a temporary name, then linked to its final name, so a
//!   reader never sees an empty or partial file and the first creator wins.
//! - [`DataDir::open`] takes an exclusive advisory lock (`flock`) on
//!   `<data dir>/relay.lock` for as long as the value lives, so two processes never
//!   share one data directory; the lock file holds the holder's pid.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{Result, StoreError};

/// Name of the lock file in the data directory.
pub const LOCK_FILE_NAME: &str = "relay.lock";

/// The permission bits of a file or directory (0 on platforms without them).
#[cfg(unix)]
fn mode_bits(meta: &fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o7777
}

#[cfg(not(unix))]
fn mode_bits(_meta: &fs::Metadata) -> u32 {
    0
}

/// True when group or others have any access.
fn is_loose(meta: &fs::Metadata) -> bool {
    mode_bits(meta) & 0o077 != 0
}

/// `path` quoted for a POSIX shell when it needs it.
pub fn shell_quote(path: &Path) -> String {
    let s = path.display().to_string();
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+:@,=".contains(&b));
    if plain {
        s
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn loose_error(path: &Path, meta: &fs::Metadata, dir: bool) -> StoreError {
    let (what, mode) = if dir {
        ("directory", "700")
    } else {
        ("file", "600")
    };
    StoreError::LoosePermissions {
        path: path.display().to_string(),
        mode: mode_bits(meta),
        fix: format!(
            "chmod {mode} {}{}",
            shell_quote(path),
            if dir {
                ""
            } else {
                " (it was readable by others: consider rotating what it holds)"
            }
        ),
        what,
    }
}

fn io_error(path: &Path, source: io::Error) -> StoreError {
    StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The data directory, locked for the life of this value.
pub struct DataDir {
    path: PathBuf,
    // Held open: the `flock` lives as long as this file description.
    _lock: File,
}

impl fmt::Debug for DataDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataDir")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl DataDir {
    /// Creates the directory (mode `0700`, parents included) or checks the existing
    /// one (refused with [`StoreError::LoosePermissions`] when group or others can
    /// access it), then takes its exclusive lock ([`StoreError::DataDirLocked`] when
    /// another process holds it).
    pub fn open(path: &Path) -> Result<DataDir> {
        match fs::metadata(path) {
            Ok(meta) if meta.is_dir() => {
                if is_loose(&meta) {
                    return Err(loose_error(path, &meta, true));
                }
            }
            Ok(_) => {
                return Err(io_error(
                    path,
                    io::Error::new(io::ErrorKind::InvalidInput, "not a directory"),
                ))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => create_dir_private(path)?,
            Err(e) => return Err(io_error(path, e)),
        }
        let lock = lock_dir(path)?;
        Ok(DataDir {
            path: path.to_path_buf(),
            _lock: lock,
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn create_dir_private(path: &Path) -> Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(path).map_err(|e| io_error(path, e))?;
    // The mode given to mkdir is reduced by the umask, never widened; set it
    // exactly in case the umask removed owner bits.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o700))
            .map_err(|e| io_error(path, e))?;
    }
    Ok(())
}

#[cfg(unix)]
fn lock_dir(dir: &Path) -> Result<File> {
    use rustix::fs::{flock, FlockOperation};
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(LOCK_FILE_NAME);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(&path)
        .map_err(|e| io_error(&path, e))?;
    match flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            return Err(StoreError::DataDirLocked {
                path: dir.display().to_string(),
                pid: text.trim().parse().ok(),
            });
        }
        Err(e) => return Err(io_error(&path, e.into())),
    }
    file.set_len(0).map_err(|e| io_error(&path, e))?;
    writeln!(file, "{}", std::process::id()).map_err(|e| io_error(&path, e))?;
    Ok(file)
}

#[cfg(not(unix))]
fn lock_dir(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_FILE_NAME);
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| io_error(&path, e))
}

/// Reads a private file (at most 64 KiB); `Ok(None)` when it does not exist. A file
/// that group or others can access is refused with [`StoreError::LoosePermissions`],
/// anything but a regular file with [`StoreError::Io`].
pub fn read_private_file(path: &Path) -> Result<Option<String>> {
    let mut options = OpenOptions::new();
    options.read(true);
    // A FIFO in its place must not block the reader (it is refused just below).
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32);
    }
    let file = match options.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(path, e)),
    };
    let meta = file.metadata().map_err(|e| io_error(path, e))?;
    if !meta.is_file() {
        return Err(io_error(
            path,
            io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"),
        ));
    }
    if is_loose(&meta) {
        return Err(loose_error(path, &meta, false));
    }
    let mut text = String::new();
    file.take(64 * 1024)
        .read_to_string(&mut text)
        .map_err(|e| io_error(path, e))?;
    Ok(Some(text))
}

/// Creates `path` (mode `0600`) holding `contents`, atomically: written and synced
/// under a temporary name in the same directory, then hard-linked to `path`, which
/// fails when `path` exists. Returns `false` (and leaves `path` alone) when it
/// already existed.
pub fn create_private_file(path: &Path, contents: &[u8]) -> Result<bool> {
    let tmp = temp_name(path);
    write_synced(&tmp, contents)?;
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            sync_parent(path)?;
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(io_error(path, e)),
    }
}

/// Writes `contents` to `path` (mode `0600`) atomically, replacing it when it
/// exists: written and synced under a temporary name, then renamed over `path`.
pub fn replace_private_file(path: &Path, contents: &[u8]) -> Result<()> {
    let tmp = temp_name(path);
    write_synced(&tmp, contents)?;
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(io_error(path, e));
    }
    sync_parent(path)
}

/// Renames `from` over `to` and syncs the directory.
pub(crate) fn rename_synced(from: &Path, to: &Path) -> Result<()> {
    fs::rename(from, to).map_err(|e| io_error(to, e))?;
    sync_parent(to)
}

fn temp_name(path: &Path) -> PathBuf {
    let mut random = [0u8; 6];
    // A clash only makes the exclusive create below fail; the pid keeps it rare.
    let _ = getrandom_bytes(&mut random);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        relay_domain::hex(&random)
    ))
}

fn getrandom_bytes(buf: &mut [u8]) -> std::result::Result<(), ()> {
    use chacha20poly1305::aead::rand_core::RngCore;
    chacha20poly1305::aead::OsRng
        .try_fill_bytes(buf)
        .map_err(|_| ())
}

fn write_synced(path: &Path, contents: &[u8]) -> Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options.open(path).and_then(|mut file| {
        file.write_all(contents)?;
        file.sync_all()
    });
    written.map_err(|e| {
        let _ = fs::remove_file(path);
        io_error(path, e)
    })
}

fn sync_parent(path: &Path) -> Result<()> {
    #[cfg(unix)]
    if let Some(parent) = path.parent() {
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_error(parent, e))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Creates `path` empty with mode `0600` when absent; sets an existing looser
/// file to `0600`. Returns true when the mode of an existing file was changed.
pub(crate) fn ensure_owner_only(path: &Path, create: bool) -> Result<bool> {
    if create {
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        options.open(path).map_err(|e| io_error(path, e))?;
    }
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(io_error(path, e)),
    };
    if !is_loose(&meta) {
        return Ok(false);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))
            .map_err(|e| io_error(path, e))?;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(tag: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!(
            "relay-store-files-{tag}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        p
    }

    #[test]
    fn shell_quote_only_when_needed() {
        assert_eq!(shell_quote(Path::new("/var/lib/relay")), "/var/lib/relay");
        assert_eq!(shell_quote(Path::new("/tmp/a b")), "'/tmp/a b'");
        assert_eq!(shell_quote(Path::new("/tmp/it's")), r"'/tmp/it'\''s'");
    }

    #[test]
    fn private_file_is_created_once_complete_and_0600() {
        let dir = temp("create");
        DataDir::open(&dir).unwrap();
        let path = dir.join("secret");
        assert!(create_private_file(&path, b"first\n").unwrap());
        assert!(!create_private_file(&path, b"second\n").unwrap());
        assert_eq!(
            read_private_file(&path).unwrap().as_deref(),
            Some("first\n")
        );
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.contains(".tmp-")), "{names:?}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
            let err = read_private_file(&path).unwrap_err().to_string();
            assert!(
                err.contains(&format!("chmod 600 {}", path.display())),
                "{err}"
            );
        }
        replace_private_file(&path, b"third\n").unwrap();
        assert_eq!(
            read_private_file(&path).unwrap().as_deref(),
            Some("third\n")
        );
        assert_eq!(read_private_file(&dir.join("absent")).unwrap(), None);
        let _ = fs::remove_dir_all(&dir);
    }

    #[cfg(unix)]
    #[test]
    fn data_dir_is_created_0700_and_a_loose_one_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp("datadir");
        let held = DataDir::open(&dir).unwrap();
        let mode = fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        // A second holder is refused and told who holds it.
        match DataDir::open(&dir) {
            Err(StoreError::DataDirLocked { pid, .. }) => {
                assert_eq!(pid, Some(std::process::id()))
            }
            other => panic!("expected DataDirLocked, got {other:?}"),
        }
        drop(held);
        assert!(DataDir::open(&dir).is_ok());
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let err = DataDir::open(&dir).unwrap_err();
        assert!(matches!(err, StoreError::LoosePermissions { .. }));
        assert!(
            err.to_string()
                .contains(&format!("chmod 700 {}", dir.display())),
            "{err}"
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
