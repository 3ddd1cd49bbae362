//! `checksums.txt`: one `sha256sum` line per pack file, `<64 hex>  <relative path>`.
//!
//! Lines use the two-space text form or the ` *` binary marker; blank lines and a trailing
//! `\r` are tolerated. Paths are relative with `/` separators; a leading `./` is dropped.
//! The file covers every file of the pack except itself.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use sha2::{Digest, Sha256};

use crate::Problem;

/// Name of the checksum file at the pack root.
pub const CHECKSUMS_FILE: &str = "checksums.txt";

/// One parsed line of `checksums.txt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChecksumEntry {
    /// Lowercase hex SHA-256 digest.
    pub digest: String,
    /// Relative path with `/` separators.
    pub path: String,
}

impl fmt::Display for ChecksumEntry {
    /// Formats the entry as a `sha256sum` text-mode line (without a newline).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}  {}", self.digest, self.path)
    }
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for byte in digest {
        out.push(char::from_digit(u32::from(byte >> 4), 16).unwrap_or('0'));
        out.push(char::from_digit(u32::from(byte & 0x0f), 16).unwrap_or('0'));
    }
    out
}

/// Parses one line (without its newline), explaining what is wrong when it is malformed.
pub fn parse_line(line: &str) -> Result<ChecksumEntry, String> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let digest = line
        .get(..64)
        .filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| {
            "expected 64 hex digits, two spaces and a path (sha256sum format)".to_owned()
        })?;
    let rest = &line[64..];
    let path = rest
        .strip_prefix("  ")
        .or_else(|| rest.strip_prefix(" *"))
        .ok_or_else(|| {
            "expected two spaces (or \" *\") between the digest and the path".to_owned()
        })?;
    let path = path.strip_prefix("./").unwrap_or(path);
    check_relative_path(path)?;
    Ok(ChecksumEntry {
        digest: digest.to_ascii_lowercase(),
        path: path.to_owned(),
    })
}

/// Checks that `path` is a clean relative pack path: non-empty, `/`-separated, without
/// empty, `.` or `..` components, backslashes or control characters.
pub fn check_relative_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("path is empty".to_owned());
    }
    if path.starts_with('/') {
        return Err(format!("path \"{path}\" is absolute"));
    }
    if path.contains('\\') {
        return Err(format!("path \"{path}\" contains a backslash (use /)"));
    }
    if path.chars().any(char::is_control) {
        return Err(format!("path {path:?} contains a control character"));
    }
    if path
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(format!(
            "path \"{path}\" has an empty, \".\" or \"..\" component"
        ));
    }
    Ok(())
}

/// Renders `checksums.txt` content for `files` (path → bytes), sorted by path, skipping
/// `checksums.txt` itself. Every line ends with `\n`.
pub fn render<'a>(files: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> String {
    let mut entries: Vec<ChecksumEntry> = files
        .into_iter()
        .filter(|(path, _)| *path != CHECKSUMS_FILE)
        .map(|(path, bytes)| ChecksumEntry {
            digest: sha256_hex(bytes),
            path: path.to_owned(),
        })
        .collect();
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    entries.iter().map(|e| format!("{e}\n")).collect()
}

/// Checks `checksums.txt` against `files`, pushing one problem per malformed line, duplicate,
/// listed-but-absent file, unlisted file and digest mismatch.
pub(crate) fn check(files: &BTreeMap<String, Vec<u8>>, problems: &mut Vec<Problem>) {
    let Some(content) = files.get(CHECKSUMS_FILE) else {
        problems.push(Problem::new(
            CHECKSUMS_FILE,
            None,
            "file is missing (it must list the SHA-256 of every other pack file)",
        ));
        return;
    };
    let Ok(text) = std::str::from_utf8(content) else {
        problems.push(Problem::new(
            CHECKSUMS_FILE,
            None,
            "file is not valid UTF-8",
        ));
        return;
    };
    let mut listed: HashMap<String, (usize, String)> = HashMap::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let entry = match parse_line(line) {
            Ok(entry) => entry,
            Err(message) => {
                problems.push(Problem::new(
                    CHECKSUMS_FILE,
                    None,
                    format!("line {number}: {message}"),
                ));
                continue;
            }
        };
        if entry.path == CHECKSUMS_FILE {
            problems.push(Problem::new(
                CHECKSUMS_FILE,
                None,
                format!("line {number}: checksums.txt must not list itself"),
            ));
            continue;
        }
        if let Some((first, _)) = listed.get(&entry.path) {
            problems.push(Problem::new(
                CHECKSUMS_FILE,
                None,
                format!(
                    "line {number}: \"{}\" is listed more than once (first on line {first})",
                    entry.path
                ),
            ));
            continue;
        }
        listed.insert(entry.path, (number, entry.digest));
    }
    let mut absent: Vec<(&usize, &String)> = listed
        .iter()
        .filter(|(path, _)| !files.contains_key(*path))
        .map(|(path, (line, _))| (line, path))
        .collect();
    absent.sort();
    for (line, path) in absent {
        problems.push(Problem::new(
            CHECKSUMS_FILE,
            None,
            format!("line {line}: lists \"{path}\", which is not in the pack"),
        ));
    }
    for (path, bytes) in files.iter().filter(|(path, _)| *path != CHECKSUMS_FILE) {
        match listed.get(path) {
            None => problems.push(Problem::new(
                path,
                None,
                "file is not listed in checksums.txt",
            )),
            Some((_, expected)) => {
                let actual = sha256_hex(bytes);
                if &actual != expected {
                    problems.push(Problem::new(
                        path,
                        None,
                        format!("SHA-256 mismatch: checksums.txt has {expected}, the file hashes to {actual}"),
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn digest_of_empty_input() {
        assert_eq!(sha256_hex(b""), EMPTY);
    }

    #[test]
    fn parses_text_binary_and_dot_slash_forms() {
        let want = ChecksumEntry {
            digest: EMPTY.to_owned(),
            path: "providers/a b.json".to_owned(),
        };
        assert_eq!(
            parse_line(&format!("{EMPTY}  providers/a b.json")).unwrap(),
            want
        );
        assert_eq!(
            parse_line(&format!("{EMPTY} *providers/a b.json\r")).unwrap(),
            want
        );
        assert_eq!(
            parse_line(&format!("{}  ./providers/a b.json", EMPTY.to_uppercase())).unwrap(),
            want
        );
    }

    #[test]
    fn rejects_malformed_lines() {
        assert!(parse_line("abc  x").unwrap_err().contains("64 hex digits"));
        assert!(parse_line(&format!("{EMPTY} x"))
            .unwrap_err()
            .contains("two spaces"));
        assert_eq!(
            parse_line(&format!("{EMPTY}  ../x")).unwrap_err(),
            "path \"../x\" has an empty, \".\" or \"..\" component"
        );
        assert_eq!(
            parse_line(&format!("{EMPTY}  /etc/x")).unwrap_err(),
            "path \"/etc/x\" is absolute"
        );
        assert!(parse_line(&format!("{EMPTY}  "))
            .unwrap_err()
            .contains("empty"));
        assert!(parse_line("é").is_err());
    }

    #[test]
    fn render_sorts_and_skips_itself() {
        let out = render([
            ("b", &b""[..]),
            ("checksums.txt", &b"x"[..]),
            ("a/c", &b""[..]),
        ]);
        assert_eq!(out, format!("{EMPTY}  a/c\n{EMPTY}  b\n"));
    }
}
