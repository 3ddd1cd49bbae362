//! The crate's example runs to completion: it is compiled into this binary as a
//! module (its `main` is `pub` for this) so it cannot rot unnoticed.

#[path = "../examples/start_and_call.rs"]
mod start_and_call;

#[test]
fn example_start_and_call_runs() {
    start_and_call::main();
}
