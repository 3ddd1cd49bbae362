//! The crate's example runs to completion: it is compiled into this binary as a
//! module (its `main` is `pub` for this) so it cannot rot unnoticed.

#[path = "../examples/account_probe.rs"]
mod account_probe;

#[test]
fn example_account_probe_runs() {
    account_probe::main();
}
