//! Properties of key normalisation and masking.

use proptest::prelude::*;
use relay_domain::{mask, normalize_keys};

fn key_lines() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        "[A-Za-z0-9_.-]{1,40}",
        " *[A-Za-z0-9-]{1,20} *",
        "#.{0,10}",
        "[ \t]{0,3}",
        "\u{feff}sk-[a-f0-9]{8}",
        ".{0,12}",
    ];
    prop::collection::vec(line, 0..20).prop_map(|lines| lines.join("\n"))
}

proptest! {
    #[test]
    fn normalisation_is_idempotent(input in key_lines()) {
        let once = normalize_keys(&input);
        let joined = once.raw().join("\n");
        let twice = normalize_keys(&joined);
        prop_assert_eq!(once.raw(), twice.raw());
        prop_assert!(twice.dropped.is_empty());
    }

    #[test]
    fn never_yields_empty_or_whitespace_keys(input in key_lines()) {
        for k in normalize_keys(&input).raw() {
            prop_assert!(!k.trim().is_empty());
            prop_assert!(!k.chars().any(char::is_whitespace));
            prop_assert!(!k.starts_with('#'));
        }
    }

    #[test]
    fn accepted_keys_are_unique(input in key_lines()) {
        let n = normalize_keys(&input);
        let mut raw = n.raw();
        raw.sort();
        raw.dedup();
        prop_assert_eq!(raw.len(), n.accepted.len());
    }

    #[test]
    fn mask_shows_at_most_eight_key_characters(key in ".{0,80}") {
        let m = mask(&key);
        let shown: Vec<char> = m.chars().filter(|c| *c != '…').collect();
        let key_len = key.chars().count();
        prop_assert!(shown.len() <= 8);
        prop_assert!(shown.len() <= key_len / 3);
        if key_len < relay_domain::MASK_FULL_CHARS {
            // Short keys: at most 4 characters, none of the head (a known prefix).
            prop_assert!(shown.len() <= 4);
            prop_assert!(m.starts_with('…'));
        }
        // What is shown is the key's own head and tail.
        let (head, tail) = m.split_once('…').unwrap();
        prop_assert!(key.starts_with(head));
        prop_assert!(key.ends_with(tail));
    }
}
