//! Embedding `relay-domain` in another Rust tool: normalise an operator's key list,
//! fingerprint and mask the keys, and redact a host's answer before it is logged.
//!
//! Run with `cargo run -p relay-domain --example keys_and_redaction`.

use relay_domain::{mask, normalize_keys, DropReason, Fingerprint, Redactor, Secret};

/// Runs the example; `pub` so the crate's tests can run it too.
pub fn main() {
    // A key list as an operator pastes it: a byte-order mark, a comment, a blank
    // line, padding, a duplicate and a line with a space inside the key.
    let pasted = "\u{feff}# deepseek keys\n\
                  sk-live-0123456789abcdef0123\n\
                  \n   sk-live-fedcba9876543210fedc   \n\
                  sk-live-0123456789abcdef0123\n\
                  sk-broken key\n";
    let keys = normalize_keys(pasted);
    assert_eq!(keys.accepted.len(), 2, "two distinct keys");
    for key in &keys.accepted {
        // The fingerprint is what a store keeps to recognise the key later; the mask
        // is what a person may see. Neither gives the key away.
        assert_eq!(key.fingerprint, Fingerprint::of(key.key.expose()));
        assert!(!key.mask.contains(key.key.expose()));
        println!(
            "line {}: {} (fingerprint {}…)",
            key.line,
            key.mask,
            &key.fingerprint.as_str()[..12]
        );
    }
    for dropped in &keys.dropped {
        println!("line {} dropped: {}", dropped.line, dropped.reason);
    }
    assert!(keys
        .dropped
        .iter()
        .any(|d| matches!(d.reason, DropReason::Duplicate { first_line: 2 })));

    // A host quoting the key it was sent, plus an unknown key-shaped token: the
    // redactor masks the known secret and every key-shaped text it does not know.
    let upstream: &Secret = &keys.accepted[0].key;
    let redactor = Redactor::new().with(upstream);
    let answer = format!(
        "Incorrect API key provided: {}; also tried sk-unknown0123456789abcdefXYZ",
        upstream.expose()
    );
    let safe = redactor.redact(&answer);
    assert!(!safe.contains(upstream.expose()));
    assert!(!safe.contains("sk-unknown0123456789abcdefXYZ"));
    assert!(safe.contains(&mask(upstream.expose())));
    println!("redacted: {safe}");
}
