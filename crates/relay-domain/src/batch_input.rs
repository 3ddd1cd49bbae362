//! The pasted input of a batch auto-import: lines of `base_url` + key + optional model
//! hint (SPEC §5), parsed into [`BatchLine`]s and per-line [`LineError`]s.
//!
//! A line holds a base URL (the one field with `://`), a key (the first other field) and,
//! optionally, a model hint (every further field, joined by one space), e.g.
//! `https://api.moonshot.cn/v1 sk-xxxx kimi 2.6`. Fields are separated by white space, or —
//! when the line holds a tab or a comma — by tabs and commas (so a hint may then hold
//! spaces). Blank lines and `#` comments are skipped; a byte-order mark is ignored.
//!
//! Keys are [`Secret`]s with the [`Fingerprint`] and [`mask`] of the single-key import
//! ([`crate::keys`]). No error text ever holds a key: a key is shown by its mask, and a
//! URL is shown only as `scheme://host[:port]/path` with key-shaped text redacted
//! ([`redact_patterns`]); a URL with credentials, a query or a fragment is shown by its
//! scheme and host only. Two lines with the same normalised URL and the same key are a
//! duplicate of the first.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::keys::{mask, Fingerprint};
use crate::net::is_loopback_host;
use crate::redact::{has_key_shape, redact_patterns};
use crate::Secret;

/// A parsed, normalised base URL: lowercase scheme and host, no default port, no
/// trailing `/`. Only `https`, or `http` to a loopback host, is accepted.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BaseUrl {
    /// `https` or `http` (loopback only).
    pub scheme: String,
    /// Lowercase host name, IPv4 address or bracketed IPv6 address; no trailing `.`.
    pub host: String,
    /// The port when it is not the scheme's default.
    pub port: Option<u16>,
    /// The path without trailing `/` (empty for the root), e.g. `/v1`.
    pub path: String,
}

/// Why a text is not an acceptable base URL. The texts hold no key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum UrlProblem {
    /// No `scheme://`.
    NoScheme,
    /// A scheme other than `https`/`http`.
    UnsupportedScheme {
        /// The scheme as given (lowercased, at most 16 characters).
        scheme: String,
    },
    /// `http://` to a host that is not loopback.
    PlainHttp,
    /// `user:password@` in the authority.
    Credentials,
    /// A `?query` or `#fragment`.
    QueryOrFragment,
    /// The host is empty or holds characters a host name cannot.
    InvalidHost,
    /// The port is not a number in 1..=65535.
    InvalidPort,
    /// White space, control or invisible (zero-width, byte-order mark, bidi
    /// control) characters in the URL: two URLs that look alike are one URL.
    InvalidCharacters,
    /// The URL holds the line's key.
    HoldsKey,
}

impl fmt::Display for UrlProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlProblem::NoScheme => f.write_str("has no https:// scheme"),
            UrlProblem::UnsupportedScheme { scheme } => {
                write!(f, "uses the scheme \"{scheme}\" (only https is accepted)")
            }
            UrlProblem::PlainHttp => {
                f.write_str("uses plain http to a host that is not loopback (use https)")
            }
            UrlProblem::Credentials => f.write_str("embeds credentials (user:password@)"),
            UrlProblem::QueryOrFragment => f.write_str("has a query or a fragment"),
            UrlProblem::InvalidHost => f.write_str("has an invalid host"),
            UrlProblem::InvalidPort => f.write_str("has an invalid port"),
            UrlProblem::InvalidCharacters => {
                f.write_str("contains white space, control or invisible characters")
            }
            UrlProblem::HoldsKey => f.write_str("holds the key (give the key as its own field)"),
        }
    }
}

/// Characters that show nothing (zero-width, soft hyphen, byte-order mark, bidi
/// controls): a URL holding one would look like another and count as a different
/// line.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

impl BaseUrl {
    /// Parses and normalises `text` (surrounding white space is trimmed).
    pub fn parse(text: &str) -> Result<BaseUrl, UrlProblem> {
        let text = text.trim();
        if text
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || is_invisible(c))
        {
            return Err(UrlProblem::InvalidCharacters);
        }
        let Some((scheme, rest)) = text.split_once("://") else {
            return Err(UrlProblem::NoScheme);
        };
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "https" && scheme != "http" {
            let scheme: String = scheme.chars().take(16).collect();
            let scheme = if scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
            {
                scheme
            } else {
                "?".to_owned()
            };
            return Err(UrlProblem::UnsupportedScheme { scheme });
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(UrlProblem::Credentials);
        }
        if rest.contains(['?', '#']) {
            return Err(UrlProblem::QueryOrFragment);
        }
        let (host, port) = split_host_port(authority)?;
        let host = host.to_ascii_lowercase();
        let host = host.strip_suffix('.').unwrap_or(&host).to_owned();
        if !host_is_valid(&host) {
            return Err(UrlProblem::InvalidHost);
        }
        let port = match port {
            None => None,
            Some(p) => {
                let n: u16 = p.parse().map_err(|_| UrlProblem::InvalidPort)?;
                if n == 0 || p.is_empty() {
                    return Err(UrlProblem::InvalidPort);
                }
                let default = if scheme == "https" { 443 } else { 80 };
                (n != default).then_some(n)
            }
        };
        if scheme == "http" && !is_loopback_host(&host) {
            return Err(UrlProblem::PlainHttp);
        }
        Ok(BaseUrl {
            scheme,
            host,
            port,
            path: path.trim_end_matches('/').to_owned(),
        })
    }

    /// `scheme://host[:port]`.
    pub fn origin(&self) -> String {
        match self.port {
            Some(p) => format!("{}://{}:{p}", self.scheme, self.host),
            None => format!("{}://{}", self.scheme, self.host),
        }
    }
}

impl fmt::Display for BaseUrl {
    /// The normalised URL, with key-like path segments masked ([`shown_url_text`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.origin(), shown_url_text(&self.path))
    }
}

fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), UrlProblem> {
    if authority.starts_with('[') {
        let end = authority.find(']').ok_or(UrlProblem::InvalidHost)?;
        let (host, rest) = authority.split_at(end + 1);
        match rest {
            "" => Ok((host, None)),
            rest => Ok((
                host,
                Some(rest.strip_prefix(':').ok_or(UrlProblem::InvalidHost)?),
            )),
        }
    } else {
        Ok(match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        })
    }
}

fn host_is_valid(host: &str) -> bool {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return !inner.is_empty()
            && inner
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
    }
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// One accepted line of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchLine {
    /// 1-based line number in the input.
    pub line: usize,
    /// The normalised base URL.
    pub base_url: BaseUrl,
    /// The upstream key.
    pub key: Secret,
    /// SHA-256 fingerprint of the key.
    pub fingerprint: Fingerprint,
    /// Display mask of the key.
    pub mask: String,
    /// The model hint as typed (fields joined by one space), if any.
    pub model_hint: Option<String>,
}

/// What is wrong with a line. No variant holds a key, only masks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LineProblem {
    /// A key (or some text) but no base URL.
    MissingUrl {
        /// Mask of the first field (the key, as far as can be told).
        mask: String,
    },
    /// A base URL but no key.
    MissingKey {
        /// The URL as it may be shown.
        url: String,
    },
    /// The base URL does not parse or is refused.
    InvalidUrl {
        /// The URL as it may be shown (scheme and host only when it holds secrets).
        url: String,
        /// What is wrong.
        problem: UrlProblem,
        /// Mask of the line's key, when it has one.
        #[serde(skip_serializing_if = "Option::is_none")]
        mask: Option<String>,
    },
    /// The key holds white space, control characters or a byte-order mark, or starts
    /// with `#`: the key normaliser ([`crate::normalize_keys`]), which every import
    /// runs, would not take it as a key.
    InvalidKey {
        /// Mask of the key.
        mask: String,
    },
    /// A field after the key looks like a second key (a model hint cannot look so).
    ExtraKey {
        /// Mask of the line's key.
        mask: String,
        /// Mask of the second key-shaped field.
        extra_mask: String,
    },
    /// The same URL and key already appeared on an earlier line.
    Duplicate {
        /// 1-based line number of the first occurrence.
        first_line: usize,
        /// Mask of the key.
        mask: String,
    },
}

/// A line that was not accepted, with its number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineError {
    /// 1-based line number in the input.
    pub line: usize,
    /// What is wrong.
    #[serde(flatten)]
    pub problem: LineProblem,
}

impl fmt::Display for LineError {
    /// `line N: what is wrong: how to fix it` — masks only, never a key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.line;
        match &self.problem {
            LineProblem::MissingUrl { mask } => write!(
                f,
                "line {n}: key {mask} has no base URL: put the provider's base URL \
                 (https://…) before the key, e.g. \"https://api.deepseek.com <key>\""
            ),
            LineProblem::MissingKey { url } => write!(
                f,
                "line {n}: {url} has no key: put the key after the URL, separated by a space, \
                 a tab or a comma"
            ),
            LineProblem::InvalidUrl { url, problem, mask } => {
                write!(f, "line {n}: base URL {url} {problem}")?;
                if let Some(mask) = mask {
                    write!(f, " (key {mask})")?;
                }
                f.write_str(": give the full https:// base URL of the provider")
            }
            LineProblem::InvalidKey { mask } => write!(
                f,
                "line {n}: key {mask} contains white space or control characters, or starts \
                 with \"#\": paste the key again as plain text"
            ),
            LineProblem::ExtraKey { mask, extra_mask } => write!(
                f,
                "line {n}: after key {mask} comes a second key-shaped field {extra_mask}: \
                 put one key per line (a model hint such as \"kimi 2.6\" may follow the key)"
            ),
            LineProblem::Duplicate { first_line, mask } => write!(
                f,
                "line {n}: duplicate of line {first_line} (same base URL and key {mask}): \
                 remove one of them"
            ),
        }
    }
}

impl std::error::Error for LineError {}

/// The result of [`parse_batch_input`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchInput {
    /// Accepted lines, in input order.
    pub lines: Vec<BatchLine>,
    /// Refused lines, in input order.
    pub errors: Vec<LineError>,
}

/// How a URL field may be shown in an error: the normalised URL when it parses; the
/// scheme and host (key-shaped text redacted) when it holds credentials, a query or a
/// fragment; otherwise the field with key-shaped text redacted, cut at 120 characters.
fn shown_url(field: &str) -> String {
    if let Ok(url) = BaseUrl::parse(field) {
        return url.to_string();
    }
    let (scheme, rest) = field.split_once("://").unwrap_or(("", field));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    let shown = if authority.contains('@') || rest.contains(['?', '#']) {
        format!("{scheme}://{host}/…")
    } else {
        field.chars().take(120).collect()
    };
    let shown: String = shown
        .chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect();
    format!("\"{}\"", shown_url_text(&shown))
}

/// URL text as it may be shown: every segment between `/`, `@`, `?`, `=`, `&`, quotes and white
/// space that looks like a key (see [`looks_like_key`]) replaced by its mask, other
/// key-shaped text redacted.
pub fn shown_url_text(text: &str) -> String {
    let is_sep = |c: char| {
        c.is_whitespace()
            || c.is_control()
            || is_invisible(c)
            || c == '\u{fffd}'
            || "/@?=&#,:\"'".contains(c)
    };
    let mut out = String::with_capacity(text.len());
    let mut segment = String::new();
    let flush = |segment: &mut String, out: &mut String| {
        if looks_like_key(segment) {
            out.push_str(&mask(segment));
        } else {
            out.push_str(&redact_patterns(segment));
        }
        segment.clear();
    };
    for c in text.chars() {
        if is_sep(c) {
            flush(&mut segment, &mut out);
            out.push(c);
        } else {
            segment.push(c);
        }
    }
    flush(&mut segment, &mut out);
    out
}

/// A field no model name looks like: key-shaped text ([`has_key_shape`]), or 32 or
/// more characters of `[A-Za-z0-9._-]` (a GLM `id.secret` key, a long opaque token).
fn looks_like_key(field: &str) -> bool {
    has_key_shape(field)
        || (field.chars().count() >= 32
            && field
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)))
}

fn split_fields(line: &str) -> Vec<&str> {
    if line.contains([',', '\t']) {
        line.split([',', '\t'])
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .collect()
    } else {
        line.split_whitespace().collect()
    }
}

/// Parses pasted batch-import text into accepted lines and per-line errors.
pub fn parse_batch_input(input: &str) -> BatchInput {
    let mut out = BatchInput::default();
    let mut seen: HashMap<(BaseUrl, Fingerprint), usize> = HashMap::new();
    for (idx, raw_line) in input.lines().enumerate() {
        let line_no = idx + 1;
        let line = raw_line.trim_matches(|c: char| c == '\u{feff}' || c.is_whitespace());
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields = split_fields(line);
        let url_idx = fields.iter().position(|f| f.contains("://"));
        let Some(url_idx) = url_idx else {
            out.errors.push(LineError {
                line: line_no,
                problem: LineProblem::MissingUrl {
                    mask: mask(fields.first().copied().unwrap_or_default()),
                },
            });
            continue;
        };
        let url_field = fields[url_idx];
        let others: Vec<&str> = fields
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != url_idx)
            .map(|(_, f)| *f)
            .collect();
        // A second URL is not a key.
        let key = others.first().copied().filter(|k| !k.contains("://"));
        let parsed_url = match key {
            Some(k) if url_field.contains(k) => Err(UrlProblem::HoldsKey),
            _ => BaseUrl::parse(url_field),
        };
        let base_url = match parsed_url {
            Ok(url) => url,
            Err(problem) => {
                out.errors.push(LineError {
                    line: line_no,
                    problem: LineProblem::InvalidUrl {
                        url: if problem == UrlProblem::HoldsKey {
                            BaseUrl::parse(url_field)
                                .map_or_else(|_| "\"…\"".to_owned(), |u| u.origin())
                        } else {
                            shown_url(url_field)
                        },
                        problem,
                        mask: key.map(mask),
                    },
                });
                continue;
            }
        };
        let Some(key) = key else {
            out.errors.push(LineError {
                line: line_no,
                // Key-shaped text in the URL is masked: a key the line meant to give
                // may sit in it (its own field was not read as a key).
                problem: LineProblem::MissingKey {
                    url: shown_url_text(&base_url.to_string()),
                },
            });
            continue;
        };
        let fingerprint = Fingerprint::of(key);
        let key_mask = mask(key);
        if key.starts_with('#')
            || key
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '\u{feff}')
        {
            out.errors.push(LineError {
                line: line_no,
                problem: LineProblem::InvalidKey { mask: key_mask },
            });
            continue;
        }
        if let Some(extra) = others[1..].iter().find(|f| looks_like_key(f)) {
            out.errors.push(LineError {
                line: line_no,
                problem: LineProblem::ExtraKey {
                    mask: key_mask,
                    extra_mask: mask(extra),
                },
            });
            continue;
        }
        let dedup = (base_url.clone(), fingerprint.clone());
        if let Some(first) = seen.get(&dedup) {
            out.errors.push(LineError {
                line: line_no,
                problem: LineProblem::Duplicate {
                    first_line: *first,
                    mask: key_mask,
                },
            });
            continue;
        }
        seen.insert(dedup, line_no);
        let hint = others[1..].join(" ");
        out.lines.push(BatchLine {
            line: line_no,
            base_url,
            key: Secret::new(key),
            fingerprint,
            mask: key_mask,
            model_hint: (!hint.is_empty()).then_some(hint),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str = "sk-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const KEY_B: &str = "sk-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const GLM_KEY: &str = "0123456789abcdef0123456789abcdef.AbCdEfGhIjKlMnOp";

    fn assert_no_key(text: &str, keys: &[&str]) {
        for k in keys {
            assert!(!text.contains(k), "{text:?} holds a key");
        }
    }

    #[test]
    fn parses_space_tab_and_comma_lines_with_hints() {
        let input = format!(
            "\u{feff}# my keys\n\nhttps://api.moonshot.cn/v1 {KEY_A} kimi 2.6\n\
             https://api.deepseek.com\t{KEY_B}\tdeepseek chat\n\
             HTTPS://Open.BigModel.CN:443/api/paas/v4/ , {GLM_KEY}\n\
             {KEY_B} https://api.minimax.io/v1 m2.7\n"
        );
        let parsed = parse_batch_input(&input);
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        let got: Vec<_> = parsed
            .lines
            .iter()
            .map(|l| {
                (
                    l.line,
                    l.base_url.to_string(),
                    l.key.expose().to_owned(),
                    l.model_hint.clone(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    3,
                    "https://api.moonshot.cn/v1".to_owned(),
                    KEY_A.to_owned(),
                    Some("kimi 2.6".to_owned())
                ),
                (
                    4,
                    "https://api.deepseek.com".to_owned(),
                    KEY_B.to_owned(),
                    Some("deepseek chat".to_owned())
                ),
                (
                    5,
                    "https://open.bigmodel.cn/api/paas/v4".to_owned(),
                    GLM_KEY.to_owned(),
                    None
                ),
                (
                    6,
                    "https://api.minimax.io/v1".to_owned(),
                    KEY_B.to_owned(),
                    Some("m2.7".to_owned())
                ),
            ]
        );
        assert_eq!(parsed.lines[0].fingerprint, Fingerprint::of(KEY_A));
        assert_eq!(parsed.lines[0].mask, mask(KEY_A));
    }

    #[test]
    fn malformed_lines_name_the_line_and_the_fix_and_never_the_key() {
        let input = format!(
            "{KEY_A}\n\
             https://api.deepseek.com\n\
             api.deepseek.com/v1 {KEY_A}\n\
             http://api.deepseek.com {KEY_A}\n\
             https://{KEY_A}@api.deepseek.com {KEY_B}\n\
             https://api.deepseek.com/v1?key={KEY_A} {KEY_B}\n\
             ftp://api.deepseek.com {KEY_A}\n\
             https://api..deepseek.com {KEY_A}\n\
             https://api.deepseek.com:99999 {KEY_A}\n\
             https://api.deepseek.com/{KEY_B} {KEY_A}\n\
             https://api.deepseek.com/ {KEY_A}\n\
             https://API.deepseek.com {KEY_A} ds\n"
        );
        let parsed = parse_batch_input(&input);
        let problems: Vec<_> = parsed
            .errors
            .iter()
            .map(|e| (e.line, e.problem.clone()))
            .collect();
        let m = mask(KEY_A);
        assert_eq!(
            problems,
            vec![
                (1, LineProblem::MissingUrl { mask: m.clone() }),
                (
                    2,
                    LineProblem::MissingKey {
                        url: "https://api.deepseek.com".into()
                    }
                ),
                (
                    3,
                    LineProblem::MissingUrl {
                        mask: mask("api.deepseek.com/v1")
                    }
                ),
                (
                    4,
                    LineProblem::InvalidUrl {
                        url: "\"http://api.deepseek.com\"".into(),
                        problem: UrlProblem::PlainHttp,
                        mask: Some(m.clone())
                    }
                ),
                (
                    5,
                    LineProblem::InvalidUrl {
                        url: "\"https://api.deepseek.com/…\"".into(),
                        problem: UrlProblem::Credentials,
                        mask: Some(mask(KEY_B))
                    }
                ),
                (
                    6,
                    LineProblem::InvalidUrl {
                        url: "\"https://api.deepseek.com/…\"".into(),
                        problem: UrlProblem::QueryOrFragment,
                        mask: Some(mask(KEY_B))
                    }
                ),
                (
                    7,
                    LineProblem::InvalidUrl {
                        url: "\"ftp://api.deepseek.com\"".into(),
                        problem: UrlProblem::UnsupportedScheme {
                            scheme: "ftp".into()
                        },
                        mask: Some(m.clone())
                    }
                ),
                (
                    8,
                    LineProblem::InvalidUrl {
                        url: "\"https://api..deepseek.com\"".into(),
                        problem: UrlProblem::InvalidHost,
                        mask: Some(m.clone())
                    }
                ),
                (
                    9,
                    LineProblem::InvalidUrl {
                        url: "\"https://api.deepseek.com:99999\"".into(),
                        problem: UrlProblem::InvalidPort,
                        mask: Some(m.clone())
                    }
                ),
                (
                    12,
                    LineProblem::Duplicate {
                        first_line: 11,
                        mask: m.clone()
                    }
                ),
            ]
        );
        // Lines 10 and 11 are accepted: a key-shaped path is legal, but it is redacted
        // when shown.
        assert_eq!(parsed.lines.len(), 2);
        assert_eq!(parsed.lines[0].line, 10);
        assert_eq!(parsed.lines[1].line, 11);
        assert_no_key(&parsed.lines[0].base_url.to_string(), &[KEY_A, KEY_B]);
        for e in &parsed.errors {
            let text = e.to_string();
            assert!(text.starts_with(&format!("line {}: ", e.line)), "{text}");
            assert!(text.contains(": "), "{text}");
            assert_no_key(&text, &[KEY_A, KEY_B]);
            assert_no_key(&serde_json::to_string(e).unwrap(), &[KEY_A, KEY_B]);
        }
        assert!(parsed.errors[0]
            .to_string()
            .contains("put the provider's base URL"));
        assert!(parsed.errors[1]
            .to_string()
            .contains("put the key after the URL"));
        assert!(parsed.errors[9]
            .to_string()
            .contains("duplicate of line 11"));
    }

    #[test]
    fn a_second_key_on_a_line_is_refused_by_masks() {
        for extra in [KEY_B, GLM_KEY] {
            let input = format!("https://api.deepseek.com {KEY_A} {extra}\n");
            let parsed = parse_batch_input(&input);
            assert!(parsed.lines.is_empty());
            assert_eq!(
                parsed.errors[0].problem,
                LineProblem::ExtraKey {
                    mask: mask(KEY_A),
                    extra_mask: mask(extra)
                }
            );
            assert_no_key(&parsed.errors[0].to_string(), &[KEY_A, extra]);
        }
        // Long model names are hints, not keys.
        let input = format!("https://api.moonshot.cn/v1 {KEY_A} kimi-k2.7-code-highspeed\n");
        assert_eq!(parse_batch_input(&input).lines.len(), 1);
    }

    #[test]
    fn a_url_holding_the_key_or_two_urls_are_refused() {
        let input = format!(
            "https://api.deepseek.com/{GLM_KEY} {GLM_KEY}\nhttps://a.example https://b.example\n"
        );
        let parsed = parse_batch_input(&input);
        assert!(parsed.lines.is_empty());
        assert_eq!(
            parsed.errors[0].problem,
            LineProblem::InvalidUrl {
                url: "https://api.deepseek.com".into(),
                problem: UrlProblem::HoldsKey,
                mask: Some(mask(GLM_KEY))
            }
        );
        assert_no_key(&parsed.errors[0].to_string(), &[GLM_KEY]);
        assert_eq!(
            parsed.errors[1].problem,
            LineProblem::MissingKey {
                url: "https://a.example".into()
            }
        );
    }

    #[test]
    fn a_key_with_control_characters_is_refused() {
        let bad = format!("{KEY_A}\u{0}");
        let parsed = parse_batch_input(&format!("https://api.deepseek.com {bad}\n"));
        assert!(parsed.lines.is_empty());
        assert_eq!(
            parsed.errors[0].problem,
            LineProblem::InvalidKey { mask: mask(&bad) }
        );
        assert!(parsed.errors[0].to_string().contains("control characters"));
        assert_no_key(&parsed.errors[0].to_string(), &[KEY_A]);
    }

    #[test]
    fn same_key_on_two_urls_is_not_a_duplicate() {
        let input =
            format!("https://api.moonshot.cn/v1 {KEY_A}\nhttps://api.moonshot.ai/v1 {KEY_A}\n");
        let parsed = parse_batch_input(&input);
        assert_eq!(parsed.lines.len(), 2);
        assert!(parsed.errors.is_empty());
    }

    #[test]
    fn base_url_normalisation() {
        let cases = [
            ("HTTPS://API.Moonshot.CN/v1/", "https://api.moonshot.cn/v1"),
            ("https://api.deepseek.com:443", "https://api.deepseek.com"),
            (
                "https://api.deepseek.com.:8443/",
                "https://api.deepseek.com:8443",
            ),
            ("http://localhost:80/v1", "http://localhost/v1"),
            ("http://127.0.0.1:8080/v1//", "http://127.0.0.1:8080/v1"),
            ("http://[::1]:9000", "http://[::1]:9000"),
        ];
        for (input, want) in cases {
            assert_eq!(BaseUrl::parse(input).unwrap().to_string(), want, "{input}");
        }
        assert_eq!(
            BaseUrl::parse("http://10.0.0.1/v1"),
            Err(UrlProblem::PlainHttp)
        );
        assert_eq!(BaseUrl::parse("https://"), Err(UrlProblem::InvalidHost));
        assert_eq!(BaseUrl::parse("https://a.b:"), Err(UrlProblem::InvalidPort));
    }
}
