//! The one redaction step every text from a host or a vendor passes before it is
//! stored, logged, answered, exported or printed.
//!
//! Hosts and vendors quote what they were sent: an account create error may quote
//! the upstream key, an admin error the `x-api-key`, a user create error the
//! password, an account test the vendor's body ("Incorrect API key provided: …"),
//! a gateway error the bearer key. A [`Redactor`] replaces, in order:
//!
//! 1. every **known secret** (the secrets the caller holds or has just sent in the
//!    operation: upstream keys of the batch, admin credentials, managed passwords,
//!    user keys, JWTs, the operator token) by its [`mask`] — also in its JSON-escaped
//!    form;
//! 2. every run of key characters whose SHA-256 is a **known fingerprint** (keys the
//!    manager no longer holds, e.g. during a reconcile) by its mask;
//! 3. **key-shaped text** it does not know, by its mask: `sk-` followed by at least
//!    16 key characters, `admin-` followed by at least 32 hex digits, JWTs (`eyJ` +
//!    base64url, usually three dot-separated parts), the token after `Bearer `,
//!    refresh tokens (`rt_` + at least 16 hex digits), and the manager's generated
//!    passwords (`crm-` + at least 32 hex digits).
//!
//! Masks, fingerprints (64 hex digits), ids, names and URLs are left alone, and
//! redacting twice changes nothing. [`redact_patterns`] is step 3 alone, for places
//! that know no secret (the store's migration, the CLI's output).

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::fmt;

use serde_json::Value;

use crate::keys::{mask, Fingerprint};
use crate::Secret;

/// Known secrets shorter than this are not searched for: they would match ordinary
/// words, and the host refuses passwords under 6 characters anyway.
pub const MIN_SECRET_CHARS: usize = 6;

/// Smallest number of key characters after `sk-` that make a key.
const SK_MIN: usize = 16;
/// Smallest number of hex digits after `admin-` that make an admin key.
const ADMIN_HEX_MIN: usize = 32;
/// Smallest number of hex digits after `rt_` that make a refresh token.
const REFRESH_HEX_MIN: usize = 16;
/// Smallest number of hex digits after `crm-` that make a generated password.
const PASSWORD_HEX_MIN: usize = 32;
/// Smallest number of characters (`eyJ` included) of a JWT.
const JWT_MIN: usize = 16;
/// Smallest bearer token that is masked (shorter ones are words, not credentials).
const BEARER_MIN: usize = 8;
/// Smallest run of key characters compared with the known fingerprints.
const FINGERPRINT_MIN: usize = 8;

/// Known secrets and fingerprints, plus the key patterns; see the module
/// documentation. Cheap to build per operation and to extend as secrets appear.
/// `Debug` shows counts only.
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Vec<Secret>,
    /// What is searched for: each secret as it is and JSON-escaped (when that
    /// differs), with the mask that replaces it; longest first, so where two match at
    /// the same place the longer (a secret containing another) is masked whole.
    needles: Vec<(Secret, String)>,
    /// First three bytes of a needle → its positions in `needles`: a text is scanned
    /// once, whatever the number of secrets (an import holds one per key).
    index: HashMap<[u8; 3], Vec<usize>>,
    fingerprints: BTreeSet<Fingerprint>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field("secrets", &self.secrets.len())
            .field("fingerprints", &self.fingerprints.len())
            .finish()
    }
}

impl Redactor {
    /// A redactor that knows no secret yet: the patterns only.
    pub fn new() -> Self {
        Redactor::default()
    }

    /// This redactor, also knowing `secret`.
    #[must_use]
    pub fn with(mut self, secret: &Secret) -> Self {
        self.add(secret);
        self
    }

    /// This redactor, also knowing the raw value `raw`.
    #[must_use]
    pub fn with_raw(mut self, raw: &str) -> Self {
        self.add_raw(raw);
        self
    }

    /// Learns `secret` (ignored when shorter than [`MIN_SECRET_CHARS`]).
    pub fn add(&mut self, secret: &Secret) {
        self.add_raw(secret.expose());
    }

    /// Learns the raw value `raw` (trimmed; ignored when shorter than
    /// [`MIN_SECRET_CHARS`]).
    pub fn add_raw(&mut self, raw: &str) {
        if self.push_raw(raw) {
            self.rebuild_index();
        }
    }

    /// Learns every secret of `secrets` (one index rebuild for all of them).
    pub fn add_all<'s>(&mut self, secrets: impl IntoIterator<Item = &'s Secret>) {
        let mut added = false;
        for s in secrets {
            added |= self.push_raw(s.expose());
        }
        if added {
            self.rebuild_index();
        }
    }

    /// Records `raw` and its needles without rebuilding the index; false when it is
    /// too short or already known.
    fn push_raw(&mut self, raw: &str) -> bool {
        let raw = raw.trim();
        if raw.chars().count() < MIN_SECRET_CHARS || self.knows(raw) {
            return false;
        }
        self.secrets.push(Secret::new(raw));
        let replacement = mask(raw);
        let escaped = json_escaped(raw);
        if escaped != raw {
            self.needles
                .push((Secret::new(escaped), replacement.clone()));
        }
        self.needles.push((Secret::new(raw), replacement));
        true
    }

    fn rebuild_index(&mut self) {
        self.needles
            .sort_by_key(|(n, _)| std::cmp::Reverse(n.expose().len()));
        self.index.clear();
        for (i, (needle, _)) in self.needles.iter().enumerate() {
            let b = needle.expose().as_bytes();
            self.index.entry([b[0], b[1], b[2]]).or_default().push(i);
        }
    }

    /// Learns a key known only by its fingerprint: a run of key characters whose
    /// SHA-256 matches is masked.
    pub fn add_fingerprint(&mut self, fingerprint: &Fingerprint) {
        self.fingerprints.insert(fingerprint.clone());
    }

    /// This redactor, also knowing the key of `fingerprint`.
    #[must_use]
    pub fn with_fingerprint(mut self, fingerprint: &Fingerprint) -> Self {
        self.add_fingerprint(fingerprint);
        self
    }

    /// Learns every secret and fingerprint of `other`.
    pub fn extend(&mut self, other: &Redactor) {
        self.add_all(&other.secrets);
        self.fingerprints.extend(other.fingerprints.iter().cloned());
    }

    /// How many secrets it knows (fingerprints not counted).
    pub fn known_secrets(&self) -> usize {
        self.secrets.len()
    }

    /// True when it knows `raw` as a secret.
    pub fn knows(&self, raw: &str) -> bool {
        self.secrets.iter().any(|s| s.expose() == raw.trim())
    }

    /// `text` with every known secret, every key of a known fingerprint and every
    /// key-shaped string replaced by its mask.
    pub fn redact(&self, text: &str) -> String {
        let out = self.redact_known(text);
        let out = if self.fingerprints.is_empty() {
            out.into_owned()
        } else {
            self.redact_fingerprints(&out)
        };
        redact_patterns(&out)
    }

    /// Redacts in place (see [`Redactor::redact`]).
    pub fn redact_in_place(&self, text: &mut String) {
        let redacted = self.redact(text);
        if redacted != *text {
            *text = redacted;
        }
    }

    /// A JSON document, given as its encoded text, redacted as text: the redactor
    /// knows each secret JSON-escaped too, so no tree of the document is built (a
    /// large document costs one more copy of its text, not of its tree). When a mask
    /// would break the encoding (it cut an escape), the document is redacted string by
    /// string instead. `json` must be JSON text; `None` when it is not and a mask
    /// was needed.
    pub fn redact_json_text(&self, json: &str) -> Option<String> {
        let clean = self.redact(json);
        if clean == json || serde_json::from_str::<serde::de::IgnoredAny>(&clean).is_ok() {
            return Some(clean);
        }
        let value: Value = serde_json::from_str(json).ok()?;
        serde_json::to_string(&self.redact_json(&value)).ok()
    }

    /// `value` with every string (and object key) redacted.
    pub fn redact_json(&self, value: &Value) -> Value {
        let mut v = value.clone();
        self.redact_json_in_place(&mut v);
        v
    }

    /// Redacts every string (and object key) of `value` in place.
    pub fn redact_json_in_place(&self, value: &mut Value) {
        match value {
            Value::String(s) => self.redact_in_place(s),
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact_json_in_place(v)),
            Value::Object(map) => {
                let needs_new_keys = map.keys().any(|k| self.redact(k) != *k);
                if needs_new_keys {
                    let old = std::mem::take(map);
                    for (k, mut v) in old {
                        self.redact_json_in_place(&mut v);
                        map.insert(self.redact(&k), v);
                    }
                } else {
                    map.values_mut().for_each(|v| self.redact_json_in_place(v));
                }
            }
            _ => {}
        }
    }

    /// `text` with every known secret (leftmost, longest first) replaced by its mask,
    /// in one scan of the text.
    fn redact_known<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let bytes = text.as_bytes();
        if self.needles.is_empty() || bytes.len() < 3 {
            return Cow::Borrowed(text);
        }
        let mut out = String::new();
        let mut copied = 0;
        let mut i = 0;
        while i + 3 <= bytes.len() {
            let found = self
                .index
                .get(&[bytes[i], bytes[i + 1], bytes[i + 2]])
                .and_then(|candidates| {
                    candidates
                        .iter()
                        .map(|&n| &self.needles[n])
                        .find(|(needle, _)| bytes[i..].starts_with(needle.expose().as_bytes()))
                });
            match found {
                // A needle is valid UTF-8 and starts with a leading byte, so `i` is a
                // character boundary, and so is the end of the match.
                Some((needle, replacement)) => {
                    out.push_str(&text[copied..i]);
                    out.push_str(replacement);
                    i += needle.expose().len();
                    copied = i;
                }
                None => i += 1,
            }
        }
        if copied == 0 {
            return Cow::Borrowed(text);
        }
        out.push_str(&text[copied..]);
        Cow::Owned(out)
    }

    fn redact_fingerprints(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find(is_token_char) {
            out.push_str(&rest[..start]);
            let run_len = rest[start..]
                .find(|c: char| !is_token_char(c))
                .unwrap_or(rest.len() - start);
            let run = &rest[start..start + run_len];
            let trimmed = run.trim_end_matches('.');
            if trimmed.len() >= FINGERPRINT_MIN
                && self.fingerprints.contains(&Fingerprint::of(trimmed))
            {
                out.push_str(&mask(trimmed));
                out.push_str(&run[trimmed.len()..]);
            } else {
                out.push_str(run);
            }
            rest = &rest[start + run_len..];
        }
        out.push_str(rest);
        out
    }
}

/// Key characters: what a `sk-` key, an admin key or a token is made of.
fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// Characters of a run compared with the known fingerprints (keys of some vendors
/// contain a dot).
fn is_token_char(c: char) -> bool {
    is_key_char(c) || c == '.'
}

fn is_jwt_char(c: char) -> bool {
    is_key_char(c) || c == '.'
}

fn is_bearer_char(c: char) -> bool {
    is_key_char(c) || matches!(c, '.' | '~' | '+' | '/' | '=')
}

/// `raw` as it appears inside a JSON string literal.
fn json_escaped(raw: &str) -> String {
    let quoted = Value::String(raw.to_string()).to_string();
    quoted[1..quoted.len() - 1].to_string()
}

/// Length in bytes of the leading run of `s` whose characters satisfy `class`.
fn run_len(s: &str, class: fn(char) -> bool) -> usize {
    s.find(|c: char| !class(c)).unwrap_or(s.len())
}

/// Number of leading ASCII hex digits of `s`.
fn hex_len(s: &str) -> usize {
    s.bytes().take_while(u8::is_ascii_hexdigit).count()
}

/// How many bytes of `rest` (which starts at a word boundary) a key pattern covers,
/// and what replaces them; `None` when no pattern starts here.
fn pattern_at(rest: &str) -> Option<(usize, String)> {
    if let Some(after) = rest.strip_prefix("sk-") {
        let run = run_len(after, is_key_char);
        if after[..run].chars().count() >= SK_MIN {
            let end = 3 + run;
            return Some((end, mask(&rest[..end])));
        }
        return None;
    }
    for (prefix, min) in [
        ("admin-", ADMIN_HEX_MIN),
        ("rt_", REFRESH_HEX_MIN),
        ("crm-", PASSWORD_HEX_MIN),
    ] {
        if let Some(after) = rest.strip_prefix(prefix) {
            if hex_len(after) >= min {
                let end = prefix.len() + run_len(after, is_key_char);
                return Some((end, mask(&rest[..end])));
            }
            return None;
        }
    }
    if rest.starts_with("eyJ") {
        let run = rest[..run_len(rest, is_jwt_char)].trim_end_matches('.');
        if run.len() >= JWT_MIN {
            return Some((run.len(), mask(run)));
        }
        return None;
    }
    if rest.len() > 6 && rest.is_char_boundary(6) && rest[..6].eq_ignore_ascii_case("bearer") {
        let after = &rest[6..];
        let gap = after.len() - after.trim_start_matches([' ', '\t']).len();
        if gap == 0 {
            return None;
        }
        let token_start = 6 + gap;
        let token = &rest[token_start..token_start + run_len(&rest[token_start..], is_bearer_char)];
        let credential =
            token.chars().count() >= BEARER_MIN && token.chars().any(|c| !c.is_ascii_lowercase());
        if credential {
            let end = token_start + token.len();
            return Some((end, format!("{}{}", &rest[..token_start], mask(token))));
        }
        return None;
    }
    None
}

/// `text` with every key-shaped string replaced by its mask (step 3 of
/// [`Redactor::redact`]; see the module documentation for the shapes). A pattern
/// only starts at a word boundary: `task-…` is not a `sk-` key.
pub fn redact_patterns(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    let mut prev: Option<char> = None;
    while i < text.len() {
        let c = text[i..].chars().next().expect("i is a char boundary");
        let boundary = prev.is_none_or(|p| !is_key_char(p));
        if boundary {
            if let Some((len, replacement)) = pattern_at(&text[i..]) {
                out.push_str(&text[copied..i]);
                out.push_str(&replacement);
                i += len;
                copied = i;
                prev = text[..i].chars().next_back();
                continue;
            }
        }
        prev = Some(c);
        i += c.len_utf8();
    }
    out.push_str(&text[copied..]);
    out
}

/// True when `text` still holds a key-shaped string ([`redact_patterns`] would
/// change it).
pub fn has_key_shape(text: &str) -> bool {
    redact_patterns(text) != text
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn json_text_is_redacted_as_text_and_stays_json_equal_to_the_tree_way() {
        let key = Secret::new("sk-json-text-0123456789abcdef0123456789");
        let quoted = Secret::new(r#"odd\key"with-quote-0123456789abcdef"#);
        let r = Redactor::new().with(&key).with(&quoted);
        let doc = json!({
            "message": format!("Incorrect API key provided: {}", key.expose()),
            key.expose(): [1, {"nested": quoted.expose()}],
            "plain": "nothing to hide",
        });
        let text = doc.to_string();
        let clean = r.redact_json_text(&text).expect("JSON in, JSON out");
        let back: Value = serde_json::from_str(&clean).expect("still JSON");
        assert_eq!(back, r.redact_json(&doc), "the same as string by string");
        assert!(!clean.contains(key.expose()));
        assert!(!clean.contains("with-quote-0123456789abcdef"));
    }

    const UPSTREAM: &str = "sk-0957beb1f3bdf4a9ee786475a5a168d9";
    const ADMIN: &str = "admin-8a75c1e2b3d4f5a6978812345678901234567890abcdefabcdefabcdef0199c2";
    const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ1c2VyX2lkIjoxMn0.c2lnbmF0dXJlLXNpZw";

    #[test]
    fn known_secrets_become_their_masks() {
        let r = Redactor::new()
            .with_raw("glm-0123456789abcdef.QRSTUV")
            .with(&Secret::new("hunter22-password"));
        let text = "bad key glm-0123456789abcdef.QRSTUV; password hunter22-password too weak";
        let out = r.redact(text);
        assert_eq!(
            out,
            format!(
                "bad key {}; password {} too weak",
                mask("glm-0123456789abcdef.QRSTUV"),
                mask("hunter22-password")
            )
        );
        assert!(!out.contains("0123456789abcdef"));
        assert!(!out.contains("hunter22"));
    }

    #[test]
    fn a_secret_containing_another_is_masked_whole() {
        let r = Redactor::new()
            .with_raw("abcdef123456")
            .with_raw("xyz-abcdef123456-tail");
        assert_eq!(
            r.redact("k=xyz-abcdef123456-tail"),
            format!("k={}", mask("xyz-abcdef123456-tail"))
        );
    }

    #[test]
    fn json_escaped_secrets_are_found() {
        let r = Redactor::new().with_raw("pa\"ss\\word9");
        let echoed = r#"body was {"password":"pa\"ss\\word9"}"#;
        let out = r.redact(echoed);
        assert!(!out.contains(r#"pa\"ss\\word9"#), "{out}");
        assert!(out.contains(&mask("pa\"ss\\word9")));
    }

    #[test]
    fn short_secrets_are_not_searched() {
        let r = Redactor::new().with_raw("abc").with_raw("   ");
        assert_eq!(r.known_secrets(), 0);
        assert_eq!(r.redact("abc abc"), "abc abc");
    }

    #[test]
    fn each_pattern_is_caught() {
        let cases = [
            (format!("Incorrect API key provided: {UPSTREAM}."), UPSTREAM),
            (format!("caller x-api-key={ADMIN}"), ADMIN),
            (format!("token {JWT} expired"), JWT),
            (
                "refresh rt_0123456789abcdef0123 rejected".to_string(),
                "rt_0123456789abcdef0123",
            ),
            (
                "password crm-476a3c4ae426f70c38f498a95be880817981ea84 is too weak".to_string(),
                "crm-476a3c4ae426f70c38f498a95be880817981ea84",
            ),
            (
                "user key sk-crm-ce4de7ec0123456789abcdef0123456789abcdef01234567".to_string(),
                "sk-crm-ce4de7ec0123456789abcdef0123456789abcdef01234567",
            ),
        ];
        for (text, secret) in cases {
            let out = redact_patterns(&text);
            assert!(!out.contains(secret), "{out}");
            assert!(out.contains(&mask(secret)), "{out}");
            assert!(!has_key_shape(&out), "{out}");
            assert!(has_key_shape(&text));
        }
    }

    #[test]
    fn bearer_tokens_are_masked_but_not_words() {
        let out = redact_patterns("rejected Authorization: Bearer Op3rator-Token_123 (401)");
        assert_eq!(
            out,
            format!(
                "rejected Authorization: Bearer {} (401)",
                mask("Op3rator-Token_123")
            )
        );
        let out = redact_patterns("authorization: bearer abcdefgh1234");
        assert_eq!(
            out,
            format!("authorization: bearer {}", mask("abcdefgh1234"))
        );
        for prose in [
            "missing Bearer token",
            "Bearer authentication failed",
            "use a Bearer",
            "Bearer",
            "Bearertoken12345",
        ] {
            assert_eq!(redact_patterns(prose), prose);
        }
    }

    #[test]
    fn a_jwt_cut_short_is_still_masked() {
        let cut = &JWT[..30];
        let out = redact_patterns(&format!("…{cut}"));
        assert!(!out.contains(cut));
    }

    #[test]
    fn no_false_positives_on_masks_fingerprints_ids_names_and_urls() {
        let fp = Fingerprint::of(UPSTREAM);
        let benign = [
            mask(UPSTREAM),
            mask(ADMIN),
            mask(JWT),
            fp.as_str().to_string(),
            "batch_b318996b0362b1c8".to_string(),
            "recon_0123456789abcdef".to_string(),
            "crm-openai-cn-pack-deepseek-sub".to_string(),
            "crm-batch_b318996b0362b1c8-0957beb1f3bdf4a9-12".to_string(),
            format!("deepseek-{}", fp.short()),
            "https://api.deepseek.com/v1/chat/completions".to_string(),
            "http://127.0.0.1:41873/api/v1/admin/accounts/12/test".to_string(),
            "task-0123456789abcdef0123456789".to_string(),
            "disk-0123456789abcdef0123456789".to_string(),
            "start_0123456789abcdef0123456789".to_string(),
            "Chat Completions API (/v1/chat/completions) returned 401: Unauthorized".to_string(),
            "sk-short".to_string(),
            "admin-12".to_string(),
            "admin-not-hex-0000".to_string(),
            "model deepseek-chat and gpt-4o-mini".to_string(),
            "admin@example.com relay-probe@example.com".to_string(),
        ];
        let r = Redactor::new()
            .with_raw(UPSTREAM)
            .with_fingerprint(&Fingerprint::of("sk-something-else-entirely"));
        for text in benign {
            assert_eq!(redact_patterns(&text), text, "pattern pass changed {text}");
            assert_eq!(r.redact(&text), text, "redactor changed {text}");
        }
    }

    #[test]
    fn keys_known_only_by_fingerprint_are_masked() {
        let glm = "0123456789abcdef0123456789abcdef.ABCDEFGHijklmnop";
        let r = Redactor::new().with_fingerprint(&Fingerprint::of(glm));
        let out = r.redact(&format!(
            "API returned 401: Incorrect API key provided: {glm}."
        ));
        assert_eq!(
            out,
            format!(
                "API returned 401: Incorrect API key provided: {}.",
                mask(glm)
            )
        );
        assert_eq!(
            r.redact("a different 0123456789abcdef token"),
            "a different 0123456789abcdef token"
        );
    }

    #[test]
    fn json_values_are_redacted_everywhere() {
        let r = Redactor::new().with_raw("bob-password-123");
        let mut v = json!({
            "message": format!("bad {UPSTREAM}"),
            "list": ["bob-password-123", 7, null],
        });
        v[UPSTREAM] = json!({"nested": format!("Bearer {JWT}")});
        let redacted = r.redact_json(&v);
        let out = redacted.to_string();
        assert!(!out.contains(UPSTREAM));
        assert!(!out.contains("bob-password-123"));
        assert!(!out.contains(JWT));
        assert_eq!(redacted["list"][1], json!(7));
        assert_eq!(
            redacted[mask(UPSTREAM).as_str()]["nested"],
            json!(format!("Bearer {}", mask(JWT)))
        );
    }

    #[test]
    fn debug_shows_counts_only() {
        let r = Redactor::new()
            .with_raw(UPSTREAM)
            .with_fingerprint(&Fingerprint::of("x"));
        let d = format!("{r:?}");
        assert_eq!(d, "Redactor { secrets: 1, fingerprints: 1 }");
        assert!(r.knows(UPSTREAM));
    }

    #[test]
    fn extend_merges_both_kinds() {
        let mut a = Redactor::new().with_raw("first-secret");
        a.extend(
            &Redactor::new()
                .with_raw("second-secret")
                .with_fingerprint(&Fingerprint::of("k")),
        );
        assert_eq!(a.known_secrets(), 2);
        assert_eq!(
            a.redact("first-secret second-secret"),
            format!("{} {}", mask("first-secret"), mask("second-secret"))
        );
    }

    #[test]
    fn many_secrets_are_found_in_one_scan() {
        let keys: Vec<Secret> = (0..2000)
            .map(|i| Secret::new(format!("glm-{i:06}-0123456789abcdef")))
            .collect();
        let mut r = Redactor::new();
        r.add_all(&keys);
        assert_eq!(r.known_secrets(), 2000);
        let text = format!(
            "first {} then {} and {}",
            keys[0].expose(),
            keys[1999].expose(),
            keys[777].expose()
        );
        let out = r.redact(&text);
        for k in [&keys[0], &keys[1999], &keys[777]] {
            assert!(!out.contains(k.expose()), "{out}");
            assert!(out.contains(&mask(k.expose())), "{out}");
        }
        // A text with none of them is returned as it is.
        assert_eq!(r.redact("glm-999999-no"), "glm-999999-no");
    }

    proptest! {
        #[test]
        fn redaction_is_idempotent_and_never_panics(text in "\\PC{0,200}", key in "[A-Za-z0-9_-]{16,40}") {
            let r = Redactor::new().with_raw(&key);
            let once = r.redact(&text);
            prop_assert_eq!(r.redact(&once), once.clone());
            let planted = format!("{text} sk-{key} {text}");
            let out = r.redact(&planted);
            let needle = format!("sk-{}", key);
            prop_assert!(!out.contains(&needle));
        }

        #[test]
        fn a_known_secret_never_survives(prefix in "[ -~]{0,30}", secret in "[!-~]{6,40}", suffix in "[ -~]{0,30}") {
            let r = Redactor::new().with_raw(&secret);
            let out = r.redact(&format!("{prefix}{secret}{suffix}"));
            prop_assert!(!out.contains(secret.trim()), "{}", out);
        }
    }
}
