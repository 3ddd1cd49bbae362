//! The operator token: from `RELAY_ADMIN_TOKEN`, or the token file generated once
//! (atomically, mode 0600) in the data directory. Its value is never logged.

use anyhow::{bail, Context, Result};
use relay_domain::{hex, Secret};
use relay_store::files::{create_private_file, read_private_file};
use std::path::{Path, PathBuf};

/// File name of the generated operator token in the data directory.
pub const TOKEN_FILE_NAME: &str = "admin.token";

/// Fewest characters of an operator token (about 128 bits when random).
pub const MIN_TOKEN_CHARS: usize = 32;

/// The token of `RELAY_ADMIN_TOKEN` (trimmed), refused when shorter than
/// [`MIN_TOKEN_CHARS`].
pub fn from_env(value: &str) -> Result<Secret> {
    let value = value.trim();
    let n = value.chars().count();
    if n < MIN_TOKEN_CHARS {
        bail!(
            "RELAY_ADMIN_TOKEN is {n} characters long; use at least {MIN_TOKEN_CHARS} random \
             characters (e.g. `openssl rand -hex 24`), or unset it to have the server generate \
             {TOKEN_FILE_NAME} in the data directory"
        );
    }
    Ok(Secret::new(value.to_string()))
}

/// Reads the token file, or creates it with a new random token. Returns the token,
/// the file's path, and whether it was created now. A file that group or others
/// can access, or that holds fewer than [`MIN_TOKEN_CHARS`] characters, is refused
/// with the fix.
pub fn load_or_create(data_dir: &Path) -> Result<(Secret, PathBuf, bool)> {
    let path = data_dir.join(TOKEN_FILE_NAME);
    if let Some(text) = read_private_file(&path)
        .with_context(|| format!("cannot use the token file {}", path.display()))?
    {
        return Ok((checked(&path, Secret::new(text))?, path, false));
    }
    let token = Secret::new(format!("rt_{}", hex(&relay_app::random_bytes(24))));
    let line = Secret::new(format!("{}\n", token.expose()));
    let created = create_private_file(&path, line.expose().as_bytes())
        .with_context(|| format!("cannot create the token file {}", path.display()))?;
    if created {
        return Ok((token, path, true));
    }
    // Another process created it meanwhile: use that one (it is complete).
    let text = read_private_file(&path)
        .with_context(|| format!("cannot use the token file {}", path.display()))?
        .unwrap_or_default();
    Ok((checked(&path, Secret::new(text))?, path, false))
}

fn checked(path: &Path, text: Secret) -> Result<Secret> {
    let value = text.expose().trim();
    let n = value.chars().count();
    if n < MIN_TOKEN_CHARS {
        bail!(
            "the token file {} holds {n} characters; at least {MIN_TOKEN_CHARS} are needed: \
             delete it to have a new token generated, or write a longer one into it",
            path.display()
        );
    }
    Ok(Secret::new(value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_env_tokens_are_refused_with_the_fix() {
        let err = from_env("a").unwrap_err().to_string();
        assert!(
            err.contains("1 characters long") && err.contains("openssl rand"),
            "{err}"
        );
        assert!(from_env(&"x".repeat(31)).is_err());
        assert_eq!(
            from_env(&format!("  {}\n", "y".repeat(32)))
                .unwrap()
                .expose(),
            "y".repeat(32)
        );
    }
}
