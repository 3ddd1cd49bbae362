//! The operator token file: generated once with mode 0600, its value never logged.

use anyhow::{bail, Context, Result};
use relay_domain::{hex, Secret};
use std::io::Write;
use std::path::{Path, PathBuf};

/// File name of the generated operator token in the data directory.
pub const TOKEN_FILE_NAME: &str = "admin.token";

/// Reads the token file, or creates it with a new random token (mode 0600).
/// Returns the token, the file's path, and whether it was created now.
pub fn load_or_create(data_dir: &Path) -> Result<(Secret, PathBuf, bool)> {
    let path = data_dir.join(TOKEN_FILE_NAME);
    if path.exists() {
        let value = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read the token file {}", path.display()))?;
        let value = value.trim();
        if value.len() < 16 {
            bail!(
                "the token file {} holds fewer than 16 characters: delete it to generate a new token",
                path.display()
            );
        }
        return Ok((Secret::new(value.to_string()), path, false));
    }
    let token = format!("rt_{}", hex(&relay_app::random_bytes(24)));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&path)
        .with_context(|| format!("cannot create the token file {}", path.display()))?;
    file.write_all(token.as_bytes())?;
    file.write_all(b"\n")?;
    Ok((Secret::new(token), path, true))
}
