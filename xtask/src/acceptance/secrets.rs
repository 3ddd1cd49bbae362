//! Secrets in the acceptance run: masking them in evidence, and scanning the
//! server's files for them.

use anyhow::{Context, Result};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// A key shown the way the product shows it: first four and last four characters.
pub fn mask(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() <= 8 {
        return "…".to_string();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

/// The secrets of a run (longest first, so a key containing another is masked whole).
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    set: BTreeSet<String>,
}

impl Secrets {
    /// Adds a secret (blank ones are ignored).
    pub fn add(&mut self, s: &str) {
        let s = s.trim();
        if !s.is_empty() {
            self.set.insert(s.to_string());
        }
    }

    /// Adds every secret of `other`.
    pub fn extend(&mut self, other: &Secrets) {
        self.set.extend(other.set.iter().cloned());
    }

    /// The secrets.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.set.iter().map(String::as_str)
    }

    fn ordered(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.iter().collect();
        v.sort_by_key(|s| std::cmp::Reverse(s.len()));
        v
    }

    /// `text` with every secret replaced by its mask.
    pub fn redact_str(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in self.ordered() {
            if out.contains(s) {
                out = out.replace(s, &mask(s));
            }
        }
        out
    }

    /// `value` with every secret in a string (or an object key) replaced by its mask.
    pub fn redact(&self, value: &Value) -> Value {
        match value {
            Value::String(s) => Value::String(self.redact_str(s)),
            Value::Array(a) => Value::Array(a.iter().map(|v| self.redact(v)).collect()),
            Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, v)| (self.redact_str(k), self.redact(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

/// A secret found in a file.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The file.
    pub path: PathBuf,
    /// The secret's mask.
    pub mask: String,
}

/// Whether `needle` occurs in `haystack` (whose lossy UTF-8 decoding is `text`).
/// An ASCII needle is searched in `text`: ASCII bytes survive the lossy decoding
/// unchanged, and the std substring search is fast even in a debug build. Other
/// needles are searched byte by byte.
fn contains(haystack: &[u8], text: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return false;
    }
    if needle.is_ascii() {
        return text.contains(needle);
    }
    let needle = needle.as_bytes();
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every file under `path` (or `path` itself), recursively.
pub fn files(path: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    if path.is_file() {
        out.push(path.to_path_buf());
        return Ok(out);
    }
    if !path.exists() {
        return Ok(out);
    }
    for entry in
        std::fs::read_dir(path).with_context(|| format!("cannot list {}", path.display()))?
    {
        let p = entry?.path();
        if p.is_dir() {
            out.extend(files(&p)?);
        } else if p.is_file() {
            out.push(p);
        }
    }
    Ok(out)
}

/// Scans every file under each root for every secret.
pub fn scan(roots: &[PathBuf], secrets: &Secrets) -> Result<(usize, Vec<Finding>)> {
    let mut scanned = 0;
    let mut found = Vec::new();
    for root in roots {
        for path in files(root)? {
            let bytes =
                std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            scanned += 1;
            let text = String::from_utf8_lossy(&bytes);
            for s in secrets.iter() {
                if contains(&bytes, &text, s) {
                    found.push(Finding {
                        path: path.clone(),
                        mask: mask(s),
                    });
                }
            }
        }
    }
    Ok((scanned, found))
}

/// Characters a key is made of; a key shape starts where the previous character is
/// none of these nor `+` or `/` (so runs of base64, as in sealed columns, never start
/// one).
fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

fn at_boundary(text: &str, at: usize) -> bool {
    text[..at]
        .chars()
        .next_back()
        .is_none_or(|p| !(is_key_char(p) || p == '+' || p == '/'))
}

/// The key-shaped strings of `text` (an implementation of its own, not the
/// product's redactor): `sk-` + 16 key characters, `admin-` + 32 hex digits, JWTs
/// (`eyJ…` with three dot-separated parts), the token after `Bearer ` (16+
/// characters), refresh tokens (`rt_` + 16 hex digits), and generated passwords
/// (`crm-` + 32 hex digits). Masks (`sk-a…9f3c`) never match: `…` ends a run.
pub fn key_shapes(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let run_of =
        |s: &str, f: fn(char) -> bool| -> usize { s.find(|c: char| !f(c)).unwrap_or(s.len()) };
    let hex_of = |s: &str| s.bytes().take_while(u8::is_ascii_hexdigit).count();
    for (at, _) in text.char_indices() {
        if !at_boundary(text, at) {
            continue;
        }
        let rest = &text[at..];
        let hit = if let Some(after) = rest.strip_prefix("sk-") {
            (run_of(after, is_key_char) >= 16).then(|| 3 + run_of(after, is_key_char))
        } else if let Some(after) = rest.strip_prefix("admin-") {
            (hex_of(after) >= 32).then(|| 6 + run_of(after, is_key_char))
        } else if let Some(after) = rest.strip_prefix("rt_") {
            (hex_of(after) >= 16).then(|| 3 + run_of(after, is_key_char))
        } else if let Some(after) = rest.strip_prefix("crm-") {
            (hex_of(after) >= 32).then(|| 4 + run_of(after, is_key_char))
        } else if rest.starts_with("eyJ") {
            let len = run_of(rest, |c| is_key_char(c) || c == '.');
            let token = rest[..len].trim_end_matches('.');
            (token.len() >= 20 && token.split('.').filter(|p| !p.is_empty()).count() >= 3)
                .then_some(token.len())
        } else if rest.len() > 7
            && rest.is_char_boundary(7)
            && rest[..7].eq_ignore_ascii_case("bearer ")
        {
            let after = rest[7..].trim_start();
            let len = run_of(after, |c| {
                is_key_char(c) || matches!(c, '.' | '~' | '+' | '/' | '=')
            });
            (len >= 16).then(|| rest.len() - after.len() + len)
        } else {
            None
        };
        if let Some(len) = hit {
            found.push(rest[..len].to_string());
        }
    }
    found
}

/// Scans every file under each root for key-shaped strings ([`key_shapes`]).
pub fn scan_shapes(roots: &[PathBuf]) -> Result<(usize, Vec<Finding>)> {
    let mut scanned = 0;
    let mut found = Vec::new();
    for root in roots {
        for path in files(root)? {
            let bytes =
                std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            scanned += 1;
            for shape in key_shapes(&String::from_utf8_lossy(&bytes)) {
                found.push(Finding {
                    path: path.clone(),
                    mask: mask(&shape),
                });
            }
        }
    }
    Ok((scanned, found))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn masks_and_redaction() {
        assert_eq!(mask("sk-test-aaaaaaaaaaaaaaaa1234"), "sk-t…1234");
        assert_eq!(mask("short"), "…");
        let mut s = Secrets::default();
        s.add("sk-test-aaaaaaaaaaaaaaaa1234");
        s.add("sk-test-aaaaaaaaaaaaaaaa12345678");
        let v = json!({"keys": ["sk-test-aaaaaaaaaaaaaaaa1234", "x sk-test-aaaaaaaaaaaaaaaa12345678 y"], "n": 1});
        let r = s.redact(&v);
        assert_eq!(r, json!({"keys": ["sk-t…1234", "x sk-t…5678 y"], "n": 1}));
        assert!(!r.to_string().contains("aaaaaaaa"));
    }

    #[test]
    fn scan_finds_a_planted_key() {
        let dir = std::env::temp_dir().join(format!("xtask-scan-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("clean.log"), b"nothing here").unwrap();
        std::fs::write(
            dir.join("sub/db"),
            // Invalid UTF-8 right around the keys, as in a database page.
            b"\x00\xff\xc3sk-planted-0123456789abcdef\xe2\x82 cl\xc3\xa9-\xce\xbb\xff",
        )
        .unwrap();
        let mut s = Secrets::default();
        s.add("sk-planted-0123456789abcdef");
        s.add("cl\u{e9}-\u{3bb}");
        s.add("absent-secret-0123456789");
        let (n, found) = scan(std::slice::from_ref(&dir), &s).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(n, 2);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found.iter().all(|f| f.path.ends_with("sub/db")));
    }

    #[test]
    fn key_shapes_are_found_and_masks_ids_and_base64_are_not() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoyM30.c2lnbmF0dXJl";
        let admin = format!("admin-{}", "8a75".repeat(16));
        let text = format!(
            "x sk-0957beb1f3bdf4a9ee786475a5a168d9 y=\"{admin}\" {jwt} Authorization: Bearer Op3rator-Token_1234567 rt_0123456789abcdef0 crm-476a3c4ae426f70c38f498a95be880817981ea84"
        );
        let found = key_shapes(&text);
        assert_eq!(found.len(), 6, "{found:?}");
        assert!(found.contains(&jwt.to_string()));
        let benign = "sk-0…68d9 admi…99c2 eyJh…XNpZw batch_b318996b0362b1c8 \
            crm-openai-cn-pack-deepseek-sub task-0123456789abcdef0123456789 \
            v1:AbCeyJhbGciOiJIUzI1NiJ9xyzXsk+/0957beb1f3bdf4a9ee78 \
            ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad Bearer sk-a…1234";
        assert!(key_shapes(benign).is_empty(), "{:?}", key_shapes(benign));
    }
}
