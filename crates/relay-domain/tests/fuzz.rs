//! Fuzz targets (property-based, `proptest`) for the two parsers of pasted secrets: the
//! key normaliser ([`normalize_keys`]) and the batch-import line parser
//! ([`parse_batch_input`]). Random text, and valid lists with hostile edits (quotes, NUL,
//! CR, byte-order marks, huge numbers, `..`, deep nesting, duplicates).
//!
//! Every target runs `RELAY_FUZZ_CASES` cases (default [`DEFAULT_CASES`], so `cargo test`
//! stays quick); `RELAY_FUZZ_SEED` fixes the random seed. `cargo xtask fuzz` runs them for
//! a time budget with fresh seeds. Inputs are bounded, so no case can hang.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use relay_domain::{
    normalize_keys, parse_batch_input, DropReason, Fingerprint, LineProblem, NormalizedKeys,
};

/// Cases per target when `RELAY_FUZZ_CASES` is unset.
const DEFAULT_CASES: u32 = 256;

fn config() -> Config {
    let cases = std::env::var("RELAY_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    let mut config = Config::with_cases(cases);
    // A fixed seed unless `RELAY_FUZZ_SEED` gives one: `cargo test` is reproducible, and
    // `cargo xtask fuzz` explores with fresh seeds.
    let seed = std::env::var("RELAY_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed);
    config.rng_seed = RngSeed::Fixed(seed);
    config
}

/// A key as vendors issue them (long enough that no fixed text can hold it by chance;
/// an unprefixed key has 32 characters or more, as the parser assumes).
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        "sk-[A-Za-z0-9]{24,48}",
        "sk-api-[A-Za-z0-9_-]{24,40}",
        "[0-9a-f]{32}\\.[A-Za-z0-9]{16}",
        "eyJ[A-Za-z0-9_-]{20,30}\\.[A-Za-z0-9_-]{20,30}\\.[A-Za-z0-9_-]{10,20}",
        "[A-Za-z0-9]{32,48}",
    ]
}

/// Noise a paste can carry.
fn noise() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("\"".to_owned()),
        Just("'".to_owned()),
        Just("\n".to_owned()),
        Just("\r".to_owned()),
        Just("\r\n".to_owned()),
        Just("\0".to_owned()),
        Just("\u{feff}".to_owned()),
        Just("\u{200b}".to_owned()),
        Just("\u{202e}".to_owned()),
        Just("\u{3000}".to_owned()),
        Just("\t".to_owned()),
        Just(" ".to_owned()),
        Just(",".to_owned()),
        Just("#".to_owned()),
        Just("../".to_owned()),
        Just("://".to_owned()),
        Just("@".to_owned()),
        Just(":99999999999999999999".to_owned()),
        Just("[".repeat(100)),
        "(?s).{1,8}",
    ]
}

/// Inserts `noise` at character positions (taken modulo the length).
fn spliced(text: &str, edits: &[(usize, String)]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for (at, n) in edits {
        let at = at % (chars.len() + 1);
        chars.splice(at..at, n.chars());
    }
    chars.into_iter().collect()
}

/// A key list: keys, comments, blanks, duplicates, with hostile edits; and its keys.
fn key_list() -> impl Strategy<Value = (String, Vec<String>)> {
    prop::collection::vec(key(), 1..5).prop_flat_map(|keys| {
        let line = prop_oneof![
            4 => prop::sample::select(keys.clone()).prop_map(|k| k.to_string()),
            1 => prop::sample::select(keys.clone()).prop_map(|k| format!("  {k}\t")),
            1 => prop::sample::select(keys.clone()).prop_map(|k| format!("\u{feff}{k}")),
            1 => Just(String::new()),
            1 => "#[ -~]{0,20}",
            1 => "[ \t]{0,4}",
        ];
        (
            prop::collection::vec(line, 0..16),
            prop::collection::vec((any::<usize>(), noise()), 0..4),
        )
            .prop_map(move |(lines, edits)| (spliced(&lines.join("\n"), &edits), keys.clone()))
    })
}

/// Every line accounted for once, in order, and the result well formed.
fn check_normalized(input: &str, n: &NormalizedKeys) -> Result<(), TestCaseError> {
    let mut numbers: Vec<usize> = n.accepted.iter().map(|a| a.line).collect();
    numbers.extend(n.dropped.iter().map(|d| d.line));
    numbers.sort_unstable();
    let expected: Vec<usize> = (1..=input.lines().count()).collect();
    prop_assert_eq!(numbers, expected);
    for a in &n.accepted {
        let k = a.key.expose();
        prop_assert!(!k.is_empty() && !k.starts_with('#'));
        let bad = |c: char| c.is_whitespace() || c.is_control() || c == '\u{feff}';
        prop_assert!(!k.chars().any(bad), "{:?}", k);
        prop_assert_eq!(&a.fingerprint, &Fingerprint::of(k));
    }
    let mut raw = n.raw();
    raw.sort_unstable();
    raw.dedup();
    prop_assert_eq!(raw.len(), n.accepted.len(), "duplicate accepted keys");
    for d in &n.dropped {
        if let DropReason::Duplicate { first_line } = d.reason {
            prop_assert!(first_line < d.line);
            prop_assert!(n.accepted.iter().any(|a| a.line == first_line));
        }
        // A key of two or more characters is never inside its own mask.
        if let Some(mask) = &d.mask {
            let line = input.lines().nth(d.line - 1).unwrap_or_default();
            let key = line.trim_matches(|c: char| c == '\u{feff}' || c.is_whitespace());
            if key.chars().count() >= 2 {
                prop_assert!(!mask.contains(key), "{mask:?} holds {key:?}");
            }
        }
    }
    Ok(())
}

/// A batch-import line: fields around a key, with URLs that may hold it.
fn batch_text() -> impl Strategy<Value = (String, Vec<String>)> {
    prop::collection::vec(key(), 1..4).prop_flat_map(|keys| {
        let k = keys.clone();
        let line = prop::sample::select(k).prop_flat_map(|key| {
            let url = prop_oneof![
                Just("https://api.deepseek.com".to_owned()),
                Just("https://api.moonshot.cn/v1".to_owned()),
                Just("http://127.0.0.1:8080/v1".to_owned()),
                Just(format!("https://{key}@api.deepseek.com")),
                Just(format!("https://api.deepseek.com/v1?key={key}")),
                Just(format!("https://api.deepseek.com/{key}")),
                Just("https://api.deepseek.com:99999999999999999999".to_owned()),
                Just("https://../../etc/passwd".to_owned()),
                Just("file:///etc/passwd".to_owned()),
                "(https|http|ftp)://[a-z0-9.:\\[\\]-]{0,24}(/[a-z0-9./-]{0,12})?",
            ];
            let hint = prop_oneof![
                Just(String::new()),
                Just("kimi 2.6".to_owned()),
                Just("deepseek-chat".to_owned()),
                "[a-z0-9. -]{0,12}",
            ];
            let sep = prop_oneof![Just(" "), Just("\t"), Just(","), Just(" , ")];
            (url, hint, sep).prop_map(move |(url, hint, sep)| {
                if hint.is_empty() {
                    format!("{url}{sep}{key}")
                } else {
                    format!("{url}{sep}{key}{sep}{hint}")
                }
            })
        });
        (
            prop::collection::vec(line, 0..10),
            prop::collection::vec((any::<usize>(), noise()), 0..4),
        )
            .prop_map(move |(lines, edits)| (spliced(&lines.join("\n"), &edits), keys.clone()))
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn keys_random_text(input in "(?s).{0,400}") {
        let n = normalize_keys(&input);
        check_normalized(&input, &n)?;
    }

    #[test]
    fn keys_edited_lists((input, keys) in key_list()) {
        let n = normalize_keys(&input);
        check_normalized(&input, &n)?;
        for d in &n.dropped {
            let shown = format!("{} {}", d.reason, serde_json::to_string(d).unwrap());
            for k in &keys {
                prop_assert!(!shown.contains(k.as_str()), "{shown}");
            }
        }
    }

    #[test]
    fn keys_normalised_twice_are_unchanged((input, _keys) in key_list()) {
        let once = normalize_keys(&input);
        let again = normalize_keys(&once.raw().join("\n"));
        prop_assert_eq!(once.raw(), again.raw());
        prop_assert!(again.dropped.is_empty());
        let masks = |n: &NormalizedKeys| n.accepted.iter().map(|a| a.mask.clone()).collect::<Vec<_>>();
        prop_assert_eq!(masks(&once), masks(&again));
    }

    #[test]
    fn batch_random_text(input in "(?s).{0,400}") {
        let parsed = parse_batch_input(&input);
        let lines = input.lines().count();
        for e in &parsed.errors {
            prop_assert!(e.line >= 1 && e.line <= lines);
        }
        for l in &parsed.lines {
            prop_assert!(l.line >= 1 && l.line <= lines);
        }
    }

    #[test]
    fn batch_edited_lines((input, keys) in batch_text()) {
        let parsed = parse_batch_input(&input);
        for e in &parsed.errors {
            let shown = format!("{e} {}", serde_json::to_string(e).unwrap());
            for k in &keys {
                prop_assert!(!shown.contains(k.as_str()), "{shown}");
            }
            prop_assert!(shown.starts_with(&format!("line {}: ", e.line)), "{}", shown);
            if let LineProblem::Duplicate { first_line, .. } = e.problem {
                prop_assert!(parsed.lines.iter().any(|l| l.line == first_line));
            }
        }
        for l in &parsed.lines {
            let url = l.base_url.to_string();
            for k in &keys {
                prop_assert!(!url.contains(k.as_str()), "{url}");
            }
            // What the batch parser accepts as a key, the key normaliser accepts as is.
            let key = l.key.expose();
            let normalized = normalize_keys(key);
            prop_assert_eq!(normalized.raw(), vec![key], "{:?}", normalized.dropped);
        }
    }

    #[test]
    fn batch_accepted_lines_round_trip((input, _keys) in batch_text()) {
        let parsed = parse_batch_input(&input);
        let text = parsed
            .lines
            .iter()
            .map(|l| match &l.model_hint {
                Some(hint) => format!("{}, {}, {hint}", l.base_url, l.key.expose()),
                None => format!("{}, {}", l.base_url, l.key.expose()),
            })
            .collect::<Vec<_>>()
            .join("\n");
        let again = parse_batch_input(&text);
        prop_assert!(again.errors.is_empty(), "{:?}", again.errors);
        let view = |b: &relay_domain::BatchInput| {
            b.lines
                .iter()
                .map(|l| (l.base_url.to_string(), l.key.expose().to_owned(), l.model_hint.clone()))
                .collect::<Vec<_>>()
        };
        prop_assert_eq!(view(&again), view(&parsed));
    }
}

// Regression tests: minimal inputs the targets above found.

/// A key the batch parser accepted but the import's key normaliser drops as a comment
/// line: the run item would have failed with no key to import.
#[test]
fn regression_a_batch_key_starting_with_a_hash_is_refused() {
    let key = "#b66d26adc904034d5b36c478ecf59b0c.zCa9wHC7DNz49vB3";
    let parsed = parse_batch_input(&format!("https://api.deepseek.com {key}"));
    assert!(parsed.lines.is_empty());
    assert_eq!(parsed.errors.len(), 1);
    assert!(matches!(
        parsed.errors[0].problem,
        LineProblem::InvalidKey { .. }
    ));
    let shown = parsed.errors[0].to_string();
    assert!(shown.starts_with("line 1: key "), "{shown}");
    assert!(!shown.contains(&key[1..]), "{shown}");
}

/// A comma-separated line whose key holds a space: accepted by the batch parser, dropped
/// by the key normaliser as holding white space.
#[test]
fn regression_a_batch_key_with_inner_white_space_is_refused() {
    for key in [
        "sk-aaaaaaaaaaaa bbbbbbbbbbbbbbbb",
        "sk-aaaaaaaaaaaa\u{3000}bbbbbbbbbbbbbbbb",
    ] {
        let parsed = parse_batch_input(&format!("https://api.deepseek.com, {key}, kimi 2.6"));
        assert!(parsed.lines.is_empty(), "{key:?}");
        assert!(matches!(
            parsed.errors[0].problem,
            LineProblem::InvalidKey { .. }
        ));
        assert!(normalize_keys(key).accepted.is_empty());
    }
}

/// A line whose key field also held `://` (so it was not read as a key) and whose URL
/// holds the key in its path: the missing-key error showed the URL, key and all.
#[test]
fn regression_a_missing_key_error_masks_a_key_in_the_url() {
    let key = "0a14aceb260ea500a7fd4a02ca9ef7ab.31Wp89QaXBRav127";
    let parsed = parse_batch_input(&format!(
        "https://api.deepseek.com/{key}\" {key}://\" kimi 2.6"
    ));
    assert!(parsed.lines.is_empty());
    assert!(matches!(
        parsed.errors[0].problem,
        LineProblem::MissingKey { .. }
    ));
    let shown = format!(
        "{} {}",
        parsed.errors[0],
        serde_json::to_string(&parsed.errors[0]).unwrap()
    );
    assert!(!shown.contains(key), "{shown}");
}

/// Two URLs that differ only by an invisible character (here a byte-order mark in the
/// path) looked alike but counted as two lines: re-reading the accepted lines found a
/// duplicate. A URL with an invisible character is refused.
#[test]
fn regression_a_url_with_an_invisible_character_is_refused() {
    let key = "sk-0123456789abcdef0123456789abcdef";
    for url in [
        "https://api.deepseek.com/\u{feff}v1",
        "https://api.deep\u{200b}seek.com/v1",
        "https://api.deepseek.com/v1\u{202e}",
    ] {
        let parsed = parse_batch_input(&format!("{url} {key}"));
        assert!(parsed.lines.is_empty(), "{url:?}");
        assert!(
            matches!(parsed.errors[0].problem, LineProblem::InvalidUrl { .. }),
            "{:?}",
            parsed.errors[0]
        );
    }
}

/// A URL refused for an invisible character, with the key right after it in its path:
/// the error showed the key (the invisible character glued it to the path segment).
#[test]
fn regression_a_refused_url_masks_a_key_after_an_invisible_character() {
    let key = "6fd2b83bd23ebcbf5a25e0fec4d02328.77zUyiM1s4KEOY4K";
    let parsed = parse_batch_input(&format!(
        "https://api.deepseek.com/\u{feff}{key} 0a00x{key}"
    ));
    assert!(parsed.lines.is_empty());
    assert!(matches!(
        parsed.errors[0].problem,
        LineProblem::InvalidUrl { .. }
    ));
    let shown = format!(
        "{} {}",
        parsed.errors[0],
        serde_json::to_string(&parsed.errors[0]).unwrap()
    );
    assert!(!shown.contains(key), "{shown}");
}
