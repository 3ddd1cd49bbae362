//! Properties of batch-import input parsing: it never panics and no error text echoes a key.

use proptest::prelude::*;
use relay_domain::{has_key_shape, parse_batch_input};

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        "sk-[A-Za-z0-9]{20,40}",
        "sk-api-[A-Za-z0-9_-]{24,40}",
        "[0-9a-f]{32}\\.[A-Za-z0-9]{16}",
        "eyJ[A-Za-z0-9_-]{20,30}\\.[A-Za-z0-9_-]{20,30}\\.[A-Za-z0-9_-]{10,20}",
    ]
}

/// A field of a line; keys may also hide inside URLs (credentials, query, path).
fn field(key: String) -> impl Strategy<Value = String> {
    let k = key.clone();
    let k2 = key.clone();
    let k3 = key.clone();
    prop_oneof![
        Just(key),
        "(https|http|HTTPS|ftp)://[a-z0-9.-]{0,20}(:[0-9]{0,6})?(/[a-z0-9/-]{0,12})?",
        Just(format!("https://{k}@api.deepseek.com")),
        Just(format!("https://api.deepseek.com/v1?key={k2}")),
        Just(format!("https://api.deepseek.com/{k3}")),
        "(kimi|Kimi|glm|qwen|m2\\.7|2\\.6|k2\\.6|deepseek|chat)",
        "[a-z.]{1,20}(/v1)?",
        ".{0,16}",
    ]
}

fn line(key: String) -> impl Strategy<Value = String> {
    (
        prop::collection::vec(field(key), 0..5),
        prop_oneof![Just(" "), Just("\t"), Just(","), Just("  "), Just(" , ")],
        prop_oneof![Just(""), Just("#"), Just("  "), Just("\u{feff}")],
    )
        .prop_map(|(fields, sep, lead)| format!("{lead}{}", fields.join(sep)))
}

fn input() -> impl Strategy<Value = (String, Vec<String>)> {
    prop::collection::vec(key(), 1..4).prop_flat_map(|keys| {
        let lines = prop::collection::vec(
            prop::sample::select(keys.clone()).prop_flat_map(line),
            0..12,
        );
        (lines.prop_map(|l| l.join("\n")), Just(keys))
    })
}

proptest! {
    #[test]
    fn parsing_never_panics_and_errors_never_echo_a_key((text, keys) in input()) {
        let parsed = parse_batch_input(&text);
        for e in &parsed.errors {
            let shown = e.to_string();
            let json = serde_json::to_string(e).unwrap();
            for k in &keys {
                prop_assert!(!shown.contains(k.as_str()), "{shown}");
                prop_assert!(!json.contains(k.as_str()), "{json}");
            }
            prop_assert!(!has_key_shape(&shown), "{shown}");
            let prefix = format!("line {}: ", e.line);
            prop_assert!(shown.starts_with(&prefix), "{}", shown);
        }
        for l in &parsed.lines {
            let shown = l.base_url.to_string();
            prop_assert!(!has_key_shape(&shown), "{shown}");
            // The generated keys, not whatever short token a line used as its key (a
            // one-letter "key" is trivially inside some URL).
            for k in &keys {
                prop_assert!(!shown.contains(k.as_str()), "{shown}");
            }
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in "(?s).{0,200}") {
        let parsed = parse_batch_input(&text);
        for e in &parsed.errors {
            prop_assert!(!has_key_shape(&e.to_string()));
        }
    }
}
