//! Upstream key normalisation, fingerprints and masks.
//!
//! Upstream keys are never stored: the manager keeps a SHA-256 [`Fingerprint`] and a
//! [`mask`] such as `sk-a…9f3c`, which shows at most 4 + 4 characters of a key of
//! 24 characters or more, and at most 3 (the end only) of a shorter one.
//!
//! The fingerprint is an unsalted SHA-256 on purpose: account names
//! (`<provider>-<fp8>`) and import idempotency depend on it being the same on
//! every manager and across restarts. That is safe for real vendor keys, which
//! carry 128 bits or more of randomness (32+ random characters): nobody can
//! search that space from a fingerprint, with or without the 8 characters the
//! mask shows. It is not safe for a short, low-entropy key, so a key shorter than
//! [`SHORT_KEY_CHARS`] gets a warning at preview (no vendor issues such keys), and
//! the mask of a key under [`MASK_FULL_CHARS`] shows almost nothing.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt;

use crate::Secret;

/// Why a line of the operator's key list was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum DropReason {
    /// The line was empty or only white space.
    Blank,
    /// The line starts with `#`.
    Comment,
    /// The same key already appeared on an earlier line.
    Duplicate {
        /// 1-based line number of the first occurrence.
        first_line: usize,
    },
    /// The key contains white space or control characters inside it.
    InvalidCharacters,
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DropReason::Blank => f.write_str("blank line"),
            DropReason::Comment => f.write_str("comment line"),
            DropReason::Duplicate { first_line } => {
                write!(f, "duplicate of the key on line {first_line}")
            }
            DropReason::InvalidCharacters => {
                f.write_str("contains white space or control characters inside the key")
            }
        }
    }
}

/// A line that normalisation dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DroppedLine {
    /// 1-based line number in the input.
    pub line: usize,
    /// Why it was dropped.
    #[serde(flatten)]
    pub reason: DropReason,
    /// Mask of the dropped key, for duplicates and invalid keys (never the key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mask: Option<String>,
}

/// One accepted key with its line number, fingerprint and mask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedKey {
    /// 1-based line number in the input.
    pub line: usize,
    /// The key itself.
    pub key: Secret,
    /// SHA-256 fingerprint of the key.
    pub fingerprint: Fingerprint,
    /// Display mask of the key.
    pub mask: String,
}

/// The result of [`normalize_keys`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NormalizedKeys {
    /// Accepted keys in first-seen order, without duplicates.
    pub accepted: Vec<AcceptedKey>,
    /// Every dropped line and why.
    pub dropped: Vec<DroppedLine>,
}

impl NormalizedKeys {
    /// The accepted raw keys, in order.
    pub fn raw(&self) -> Vec<&str> {
        self.accepted.iter().map(|k| k.key.expose()).collect()
    }
}

/// Normalises an operator's key list: strips a byte-order mark, trims each line,
/// drops blank lines and `#` comment lines, rejects keys with inner white space
/// or control characters, and removes duplicates keeping the first occurrence.
pub fn normalize_keys(input: &str) -> NormalizedKeys {
    let mut out = NormalizedKeys::default();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (idx, raw_line) in input.lines().enumerate() {
        let line_no = idx + 1;
        let line = raw_line
            .trim_matches(|c: char| c == '\u{feff}' || c.is_whitespace())
            .to_string();
        if line.is_empty() {
            out.dropped.push(DroppedLine {
                line: line_no,
                reason: DropReason::Blank,
                mask: None,
            });
            continue;
        }
        if line.starts_with('#') {
            out.dropped.push(DroppedLine {
                line: line_no,
                reason: DropReason::Comment,
                mask: None,
            });
            continue;
        }
        if line
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '\u{feff}')
        {
            out.dropped.push(DroppedLine {
                line: line_no,
                reason: DropReason::InvalidCharacters,
                mask: Some(mask(&line)),
            });
            continue;
        }
        if let Some(first) = seen.get(&line) {
            out.dropped.push(DroppedLine {
                line: line_no,
                reason: DropReason::Duplicate { first_line: *first },
                mask: Some(mask(&line)),
            });
            continue;
        }
        seen.insert(line.clone(), line_no);
        out.accepted.push(AcceptedKey {
            line: line_no,
            fingerprint: Fingerprint::of(&line),
            mask: mask(&line),
            key: Secret::new(line),
        });
    }
    out
}

/// SHA-256 of a key, as 64 lowercase hex characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// Fingerprints a raw key.
    pub fn of(key: &str) -> Fingerprint {
        let digest = Sha256::digest(key.as_bytes());
        Fingerprint(hex(&digest))
    }

    /// Parses a stored fingerprint (64 lowercase hex characters).
    pub fn parse(value: &str) -> Option<Fingerprint> {
        (value.len() == 64
            && value
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| Fingerprint(value.to_string()))
    }

    /// The full hex digest.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 8 hex characters, used in resource names.
    pub fn short(&self) -> &str {
        &self.0[..8]
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Lowercase hex encoding.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0xf) as usize] as char);
    }
    s
}

/// Keys shorter than this (in characters) are not plausible vendor keys: preview
/// warns about each (its mask and fingerprint together could give it away).
pub const SHORT_KEY_CHARS: usize = 20;

/// Keys of at least this many characters show 4 + 4 characters in their mask;
/// shorter keys show only their last `len / 6` characters (at most 3).
pub const MASK_FULL_CHARS: usize = 24;

/// Masks a key for display. A key of [`MASK_FULL_CHARS`] characters or more shows
/// 4 characters at each end (`sk-a…9f3c`, never more than 8 in all); a shorter key
/// shows only its last `len / 6` characters (`…3c` for 12 characters, `…` under 6),
/// so a known prefix such as `sk-` is never given away with the rest.
pub fn mask(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    let (head, tail) = if chars.len() >= MASK_FULL_CHARS {
        (4, 4)
    } else {
        (0, chars.len() / 6)
    };
    let head: String = chars[..head].iter().collect();
    let tail: String = chars[chars.len() - tail..].iter().collect();
    format!("{head}…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_bom_comments_blanks_and_duplicates() {
        let input = "\u{feff}sk-aaaaaaaaaaaaaaaa\n\n# comment\n  sk-bbbbbbbbbbbbbbbb  \r\nsk-aaaaaaaaaaaaaaaa\nsk-c c\n";
        let n = normalize_keys(input);
        assert_eq!(n.raw(), vec!["sk-aaaaaaaaaaaaaaaa", "sk-bbbbbbbbbbbbbbbb"]);
        assert_eq!(n.accepted[1].line, 4);
        let reasons: Vec<_> = n
            .dropped
            .iter()
            .map(|d| (d.line, d.reason.clone()))
            .collect();
        assert_eq!(
            reasons,
            vec![
                (2, DropReason::Blank),
                (3, DropReason::Comment),
                (5, DropReason::Duplicate { first_line: 1 }),
                (6, DropReason::InvalidCharacters),
            ]
        );
    }

    #[test]
    fn fingerprint_is_sha256_hex() {
        let fp = Fingerprint::of("abc");
        assert_eq!(
            fp.as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(fp.short(), "ba7816bf");
        assert_eq!(Fingerprint::parse(fp.as_str()), Some(fp));
        assert_eq!(Fingerprint::parse("xyz"), None);
    }

    #[test]
    fn mask_shows_four_and_four_of_long_keys_and_little_of_short_ones() {
        assert_eq!(mask("sk-abcdefghijklmnopqr9f3c"), "sk-a…9f3c");
        assert_eq!(mask("sk-0957beb1f3bdf4a9ee786475a5a168d9"), "sk-0…68d9");
        // Under 24 characters: the end only, at most 3 characters.
        assert_eq!(mask("sk-abcdefghijklmnop9f3"), "…9f3");
        assert_eq!(mask("sk-ae5c4ccb3"), "…b3");
        assert_eq!(mask("12345678"), "…8");
        assert_eq!(mask("abc"), "…");
        assert_eq!(mask(""), "…");
    }
}
