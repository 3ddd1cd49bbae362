//! The crate's example runs to completion: it is compiled into this binary as a
//! module (its `main` is `pub` for this) so it cannot rot unnoticed.

#[path = "../examples/keys_and_redaction.rs"]
mod keys_and_redaction;

#[test]
fn example_keys_and_redaction_runs() {
    keys_and_redaction::main();
}
