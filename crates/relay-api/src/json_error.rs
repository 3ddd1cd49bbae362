//! JSON body errors that name the field and the expected type but never repeat what
//! the client sent.
//!
//! serde's messages quote the offending value (`invalid type: string "sk-…", expected
//! a sequence`), and request bodies carry upstream keys, admin keys and passwords. This
//! module rebuilds the message from its parts: the field path (found by scanning the
//! body up to the error's position), the expected type, and only the *kind* of what
//! was found (`a string`, `an integer`, …). Unknown field names are shown only when
//! they look like a field name (`[A-Za-z_]`, at most 40 characters): a key pasted as a
//! field name is not repeated either.

use serde_json::error::Category;

/// Longest field name repeated in a message.
const MAX_NAME: usize = 40;

/// True when `name` can be repeated: letters and `_` only (no digits, so no key or
/// token), at most [`MAX_NAME`] characters.
fn showable(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name.bytes().all(|b| b.is_ascii_alphabetic() || b == b'_')
}

#[derive(Debug)]
enum Frame {
    Object { key: Option<String>, want_key: bool },
    Array { index: usize },
}

/// The path (`subscribers[0].email`) of the value being read at byte `end` of
/// `body`, which must be valid JSON up to there. Field names that are not
/// [`showable`] print as `<field>`.
fn path_at(body: &[u8], end: usize) -> String {
    let end = end.min(body.len());
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    while i < end {
        match body[i] {
            b'{' => stack.push(Frame::Object {
                key: None,
                want_key: true,
            }),
            b'[' => stack.push(Frame::Array { index: 0 }),
            b'}' | b']' => {
                stack.pop();
            }
            b',' => match stack.last_mut() {
                Some(Frame::Array { index }) => *index += 1,
                Some(Frame::Object { want_key, .. }) => *want_key = true,
                None => {}
            },
            b':' => {
                if let Some(Frame::Object { want_key, .. }) = stack.last_mut() {
                    *want_key = false;
                }
            }
            b'"' => {
                let start = i + 1;
                let mut j = start;
                while j < body.len() && body[j] != b'"' {
                    j += if body[j] == b'\\' { 2 } else { 1 };
                }
                if let Some(Frame::Object { key, want_key }) = stack.last_mut() {
                    if *want_key {
                        let raw = &body[start..j.min(body.len())];
                        *key = Some(String::from_utf8_lossy(raw).into_owned());
                    }
                }
                i = j;
            }
            _ => {}
        }
        i += 1;
    }
    let mut out = String::new();
    for frame in &stack {
        match frame {
            Frame::Object { key: Some(k), .. } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(if showable(k) { k } else { "<field>" });
            }
            Frame::Object { key: None, .. } => {}
            Frame::Array { index } => out.push_str(&format!("[{index}]")),
        }
    }
    out
}

/// Byte offset of 1-based `line`, `column` as serde_json reports them.
fn offset_of(body: &[u8], line: usize, column: usize) -> usize {
    let mut start = 0;
    for _ in 1..line {
        match body[start..].iter().position(|&b| b == b'\n') {
            Some(p) => start += p + 1,
            None => return body.len(),
        }
    }
    start + column
}

/// What was found, by kind only (`string "sk-…"` → `a string`).
fn kind_of(unexpected: &str) -> &'static str {
    const KINDS: &[(&str, &str)] = &[
        ("string", "a string"),
        ("integer", "an integer"),
        ("floating point", "a number"),
        ("boolean", "a boolean"),
        ("character", "a character"),
        ("unit value", "null"),
        ("null", "null"),
        ("map", "an object"),
        ("sequence", "an array"),
        ("byte array", "bytes"),
    ];
    KINDS
        .iter()
        .find(|(p, _)| unexpected.starts_with(p))
        .map(|(_, k)| *k)
        .unwrap_or("another value")
}

/// serde's description of the expected type in JSON words.
fn expected_in_json_words(exp: &str) -> String {
    let exp = exp.trim();
    if exp.starts_with("struct ") || exp.starts_with("internally tagged enum") {
        "an object".into()
    } else if exp == "a sequence" {
        "an array".into()
    } else if let Some(t) = ["u8", "u16", "u32", "u64", "usize"]
        .iter()
        .find(|t| exp == **t)
    {
        format!("a whole number ({t})")
    } else if ["i8", "i16", "i32", "i64", "isize"].contains(&exp) {
        format!("an integer ({exp})")
    } else {
        exp.to_string()
    }
}

/// Text between the last ``, expected `` and the end: the expected part, which comes
/// from the server's own types (the value before it may contain anything).
fn expected_part(msg: &str) -> Option<&str> {
    msg.rfind(", expected ")
        .map(|i| &msg[i + ", expected ".len()..])
}

/// A name in backquotes right after `prefix` (`missing field `x``), if showable.
fn quoted_after<'m>(msg: &'m str, prefix: &str) -> Option<&'m str> {
    let rest = msg.strip_prefix(prefix)?;
    let end = rest.find('`')?;
    Some(&rest[..end])
}

fn at(path: &str) -> String {
    if path.is_empty() {
        "the body".into()
    } else {
        format!("`{path}`")
    }
}

/// A message for `e`, raised while decoding `body`: names the field path, the
/// expected type and the position, never the submitted value.
pub fn describe(body: &[u8], e: &serde_json::Error) -> String {
    let position = if e.line() > 0 {
        format!(" at line {} column {}", e.line(), e.column())
    } else {
        String::new()
    };
    let full = e.to_string();
    let msg = full.strip_suffix(&position).unwrap_or(&full);
    let path = if e.line() > 0 {
        path_at(body, offset_of(body, e.line(), e.column()))
    } else {
        String::new()
    };
    let text = match e.classify() {
        // serde_json's syntax messages are fixed texts without input.
        Category::Syntax | Category::Eof => {
            if path.is_empty() {
                msg.to_string()
            } else {
                format!("{msg} (in {})", at(&path))
            }
        }
        Category::Io => "the body could not be read".to_string(),
        Category::Data => describe_data(msg, &path),
    };
    format!("{text}{position}")
}

/// `path` without a last segment naming `name` (or a hidden name): the scan stops
/// right after a key, so errors about that key (unknown, duplicate) end with it.
fn parent_of(path: &str, name: &str) -> String {
    let hidden = !showable(name);
    let matches = |last: &str| last == name || (hidden && last == "<field>");
    match path.rsplit_once('.') {
        Some((parent, last)) if matches(last) => parent.to_string(),
        None if matches(path) => String::new(),
        _ => path.to_string(),
    }
}

fn describe_data(msg: &str, path: &str) -> String {
    if let Some(rest) = msg.strip_prefix("invalid type: ") {
        let expected = expected_part(rest).map(expected_in_json_words);
        return match expected {
            Some(exp) => format!("{}: expected {exp}, found {}", at(path), kind_of(rest)),
            None => format!("{}: wrong type ({})", at(path), kind_of(rest)),
        };
    }
    if let Some(rest) = msg.strip_prefix("invalid value: ") {
        let expected = expected_part(rest).map(expected_in_json_words);
        return match expected {
            Some(exp) => format!(
                "{}: invalid value ({}), expected {exp}",
                at(path),
                kind_of(rest)
            ),
            None => format!("{}: invalid value ({})", at(path), kind_of(rest)),
        };
    }
    if let Some(rest) = msg.strip_prefix("invalid length ") {
        // `invalid length 3, expected …`: the length is a count, not the value.
        let n: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let exp = expected_part(rest).map(expected_in_json_words);
        return match exp {
            Some(exp) => format!("{}: invalid length {n}, expected {exp}", at(path)),
            None => format!("{}: invalid length {n}", at(path)),
        };
    }
    if msg.starts_with("unknown variant `") {
        return match expected_part(msg) {
            Some(exp) => format!("{}: unknown value, expected {exp}", at(path)),
            None => format!("{}: unknown value", at(path)),
        };
    }
    if let Some(name) = quoted_after(msg, "unknown field `") {
        let parent = parent_of(path, name);
        let shown = if showable(name) {
            format!("unknown field `{name}`")
        } else {
            "an unknown field (its name is not repeated)".to_string()
        };
        let inside = if parent.is_empty() {
            String::new()
        } else {
            format!(" in `{parent}`")
        };
        let exp = expected_part(msg)
            .map(|e| format!(", expected {e}"))
            .or_else(|| {
                msg.contains("there are no fields")
                    .then(|| ", no fields are expected".to_string())
            })
            .unwrap_or_default();
        return format!("{shown}{inside}{exp}");
    }
    for (prefix, what) in [
        ("missing field `", "required field is missing"),
        ("duplicate field `", "given more than once"),
    ] {
        if let Some(name) = quoted_after(msg, prefix).filter(|n| showable(n)) {
            let parent = parent_of(path, name);
            let field = if parent.is_empty() {
                name.to_string()
            } else {
                format!("{parent}.{name}")
            };
            return format!("`{field}`: {what}");
        }
    }
    format!("{}: invalid value", at(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sub {
        email: Option<String>,
        user_id: Option<i64>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Mode {
        Strict,
        Partial,
    }

    #[derive(Debug, Deserialize)]
    #[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
    #[allow(dead_code)]
    enum Auth {
        ApiKey { api_key: String },
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        host_id: String,
        keys: Option<Vec<String>>,
        mode: Option<Mode>,
        #[serde(default)]
        subscribers: Vec<Sub>,
        validity_days: Option<u32>,
        auth: Option<Auth>,
    }

    const SECRET: &str = "sk-SECRETKEYVALUE0123456789abcdef";

    fn message(body: &str) -> String {
        let e = serde_json::from_slice::<Body>(body.as_bytes()).unwrap_err();
        let m = describe(body.as_bytes(), &e);
        assert!(!m.contains("SECRET"), "echoed the value: {m}");
        assert!(!m.contains("0123456789"), "echoed the value: {m}");
        m
    }

    #[test]
    fn type_errors_name_the_field_and_the_type_only() {
        let m = message(&format!(r#"{{"host_id":"main","keys":"{SECRET}"}}"#));
        assert!(
            m.starts_with("`keys`: expected an array, found a string at line 1 column"),
            "{m}"
        );
        let m = message(r#"{"host_id":"main","keys":{"k":"sk-SECRET0123456789"}}"#);
        assert!(
            m.starts_with("`keys`: expected an array, found an object"),
            "{m}"
        );
        let m = message(r#"{"host_id":"main","keys":[1234567890123456789]}"#);
        assert!(
            m.starts_with("`keys[0]`: expected a string, found an integer"),
            "{m}"
        );
        let m = message(r#"{"host_id":0123456789}"#);
        assert!(m.contains("invalid number"), "{m}");
        let m = message(r#"{"host_id":9876543210123,"keys":[]}"#);
        assert!(
            m.starts_with("`host_id`: expected a string, found an integer"),
            "{m}"
        );
        let m = message(r#"{"host_id":"m","validity_days":-1234567890}"#);
        assert!(
            m.starts_with(
                "`validity_days`: invalid value (an integer), expected a whole number (u32)"
            ),
            "{m}"
        );
        let m = message(&format!(
            r#"{{"host_id":"m","subscribers":[{{"email":"a@b"}},{{"email":["{SECRET}"]}}]}}"#
        ));
        assert!(
            m.starts_with("`subscribers[1].email`: expected a string, found an array"),
            "{m}"
        );
    }

    #[test]
    fn enum_values_are_not_repeated() {
        let m = message(&format!(r#"{{"host_id":"m","mode":"{SECRET}"}}"#));
        assert!(
            m.starts_with("`mode`: unknown value, expected `strict` or `partial`"),
            "{m}"
        );
        let m = message(&format!(
            r#"{{"host_id":"m","auth":{{"kind":"api_key","api_key":{{"v":"{SECRET}"}}}}}}"#
        ));
        // Internally tagged enums are decoded from a buffered copy: serde_json places
        // their errors at the end of the body, so no path is known.
        assert!(
            m.starts_with("the body: expected a string, found an object"),
            "{m}"
        );
        let m = message(&format!(
            r#"{{"host_id":"m","auth":{{"kind":"{SECRET}"}}}}"#
        ));
        assert!(
            m.starts_with("`auth.kind`: unknown value, expected `api_key`"),
            "{m}"
        );
    }

    #[test]
    fn unknown_and_missing_fields() {
        let m = message(r#"{"host_id":"m","key":["a"]}"#);
        assert!(m.starts_with("unknown field `key`, expected one of"), "{m}");
        assert!(m.contains("`keys`"), "{m}");
        let m = message(&format!(r#"{{"host_id":"m","{SECRET}":1}}"#));
        assert!(
            m.starts_with("an unknown field (its name is not repeated), expected one of"),
            "{m}"
        );
        let m = message(r#"{"host_id":"m","subscribers":[{"mail":"x"}]}"#);
        assert!(
            m.starts_with(
                "unknown field `mail` in `subscribers[0]`, expected `email` or `user_id`"
            ),
            "{m}"
        );
        let m = message(r#"{"keys":[]}"#);
        assert!(m.starts_with("`host_id`: required field is missing"), "{m}");
        let m = message(r#"{"host_id":"m","host_id":"n"}"#);
        assert!(m.starts_with("`host_id`: given more than once"), "{m}");
        let m = message(r#"{"host_id":"m","auth":{"api_key":"x"}}"#);
        assert!(
            m.starts_with("`auth.kind`: required field is missing"),
            "{m}"
        );
        let m = message(r#"{"host_id":"m","subscribers":[{"email":"a","email":"b"}]}"#);
        assert!(
            m.starts_with("`subscribers[0].email`: given more than once"),
            "{m}"
        );
    }

    #[test]
    fn syntax_errors_keep_their_fixed_text() {
        let m = message(&format!(r#"{{"host_id":"m","keys":["{SECRET}" "x"]}}"#));
        assert!(
            m.starts_with("expected `,` or `]` (in `keys[0]`) at line 1"),
            "{m}"
        );
        let m = message(&format!("{{\"host_id\":\"{SECRET}"));
        assert!(m.starts_with("EOF while parsing a string"), "{m}");
        let m = message(r#""sk-SECRET0123456789""#);
        assert!(
            m.starts_with("the body: expected an object, found a string"),
            "{m}"
        );
        let m = message("{\n  \"host_id\": \"m\",\n  \"keys\": \"sk-SECRET0123456789\"\n}");
        assert!(
            m.starts_with("`keys`: expected an array, found a string at line 3"),
            "{m}"
        );
    }

    #[test]
    fn paths_follow_nesting_and_hide_odd_names() {
        let b = br#"{"a":[{"b":1},{"c":[0,{"d":"x"}]}]}"#;
        let at_x = b.iter().position(|&c| c == b'x').unwrap();
        assert_eq!(path_at(b, at_x), "a[1].c[1].d");
        let b = br#"{"sk-123":{"e\"f":1}}"#;
        assert_eq!(path_at(b, b.len() - 3), "<field>.<field>");
        assert!(showable("probe_key"));
        assert!(!showable("abc123"));
        assert!(!showable(&"a".repeat(41)));
    }
}
