//! Secrets and key lists read from files (or `-` for stdin), never from command-line
//! values, and the usage errors (exit 2) that name the flag to fix.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

/// A mistake in how the command was called: exit code 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Shorthand for a usage error as an `anyhow::Error`.
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError(message.into()))
}

/// True when `path` means standard input.
pub fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Refuses two flags that both want standard input.
pub fn one_stdin(flags: &[(&str, Option<&PathBuf>)]) -> anyhow::Result<()> {
    let from_stdin: Vec<&str> = flags
        .iter()
        .filter(|(_, path)| path.is_some_and(|p| is_stdin(p)))
        .map(|(flag, _)| *flag)
        .collect();
    if from_stdin.len() > 1 {
        return Err(usage(format!(
            "{} all read standard input ('-'); give all but one of them a file",
            from_stdin.join(" and ")
        )));
    }
    Ok(())
}

/// Reads a whole text file (or stdin for `-`); an unreadable or non-UTF-8 file is a
/// usage error naming the flag.
pub fn read_text(path: &Path, flag: &str) -> anyhow::Result<String> {
    let mut text = String::new();
    let result = if is_stdin(path) {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::read_to_string(path).map(|t| text = t)
    };
    match result {
        Ok(()) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => Err(usage(format!(
            "{flag} {}: the file is not UTF-8 text",
            shown(path)
        ))),
        Err(e) => Err(usage(format!(
            "{flag} {}: cannot read it: {e}",
            shown(path)
        ))),
    }
}

/// How `path` is named in messages: `(stdin)` for `-`.
pub fn shown(path: &Path) -> String {
    if is_stdin(path) {
        "(stdin)".into()
    } else {
        path.display().to_string()
    }
}

/// Reads one secret (API key, password, probe key, token): the whole file, trailing
/// newlines removed. An empty secret is a usage error.
pub fn read_secret(path: &Path, flag: &str) -> anyhow::Result<String> {
    let text = read_text(path, flag)?;
    let secret = text
        .strip_prefix('\u{feff}')
        .unwrap_or(&text)
        .trim_end_matches(['\n', '\r'])
        .to_owned();
    if secret.trim().is_empty() {
        return Err(usage(format!("{flag} {}: the file is empty", shown(path))));
    }
    if secret.contains('\n') {
        return Err(usage(format!(
            "{flag} {}: expected one line, found several",
            shown(path)
        )));
    }
    Ok(secret)
}

/// A key list: the raw text (sent as `keys_text`) and its key lines (trimmed, without
/// blank lines and `#` comments), used for redaction and for `keys` arrays.
#[derive(Clone)]
pub struct KeyList {
    /// The file's text.
    pub text: String,
    /// The key lines.
    pub keys: Vec<String>,
}

impl fmt::Debug for KeyList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyList({} keys)", self.keys.len())
    }
}

/// Reads a key list; a list without any key is a usage error.
pub fn read_keys(path: &Path, flag: &str) -> anyhow::Result<KeyList> {
    let text = read_text(path, flag)?;
    let keys: Vec<String> = text
        .lines()
        .map(|line| line.trim_start_matches('\u{feff}').trim())
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect();
    if keys.is_empty() {
        return Err(usage(format!(
            "{flag} {}: no key found (one key per line; blank lines and # comments are ignored)",
            shown(path)
        )));
    }
    Ok(KeyList { text, keys })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(name: &str, content: &str) -> PathBuf {
        let path =
            std::env::temp_dir().join(format!("relay-cli-input-{}-{name}", std::process::id()));
        std::fs::write(&path, content).unwrap();
        path
    }

    #[test]
    fn secrets_lose_trailing_newlines_only() {
        let path = temp_file("secret", " admin-key-1 \r\n\n");
        assert_eq!(
            read_secret(&path, "--api-key-file").unwrap(),
            " admin-key-1 "
        );
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn empty_and_multiline_secrets_are_usage_errors() {
        let empty = temp_file("empty", "\n");
        let err = read_secret(&empty, "--password-file").unwrap_err();
        assert!(err.downcast_ref::<UsageError>().is_some());
        assert!(err.to_string().starts_with("--password-file "));
        let two = temp_file("two", "a-secret\nanother-secret\n");
        let err = read_secret(&two, "--password-file").unwrap_err();
        assert!(err.to_string().contains("several"));
        assert!(!err.to_string().contains("a-secret"));
        std::fs::remove_file(empty).unwrap();
        std::fs::remove_file(two).unwrap();
    }

    #[test]
    fn key_lists_drop_blanks_and_comments() {
        let path = temp_file(
            "keys",
            "\u{feff}# team keys\nsk-a-1111\n\n  sk-b-2222  \n#x\n",
        );
        let list = read_keys(&path, "--keys-file").unwrap();
        assert_eq!(list.keys, vec!["sk-a-1111", "sk-b-2222"]);
        assert!(!format!("{list:?}").contains("sk-a"));
        std::fs::write(&path, "# nothing\n\n").unwrap();
        let err = read_keys(&path, "--keys-file").unwrap_err();
        assert!(err.to_string().contains("no key found"));
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn a_missing_file_names_the_flag() {
        let err = read_keys(Path::new("/nonexistent/keys.txt"), "--keys-file").unwrap_err();
        assert!(err.downcast_ref::<UsageError>().is_some());
        assert!(
            err.to_string()
                .starts_with("--keys-file /nonexistent/keys.txt: cannot read it"),
            "{err}"
        );
    }

    #[test]
    fn only_one_flag_may_read_stdin() {
        let dash = PathBuf::from("-");
        let file = PathBuf::from("keys.txt");
        assert!(one_stdin(&[
            ("--keys-file", Some(&dash)),
            ("--probe-key-file", Some(&file))
        ])
        .is_ok());
        let err = one_stdin(&[
            ("--keys-file", Some(&dash)),
            ("--probe-key-file", Some(&dash)),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("--keys-file and --probe-key-file"));
    }
}
