//! The crate's example runs to completion: it is compiled into this binary as a
//! module (its `main` is `pub` for this) so it cannot rot unnoticed.

#[path = "../examples/find_and_repair_drift.rs"]
mod find_and_repair_drift;

#[test]
fn example_find_and_repair_drift_runs() {
    find_and_repair_drift::main();
}
