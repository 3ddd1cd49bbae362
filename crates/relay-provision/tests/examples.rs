//! The crate's example runs to completion: it is compiled into this binary as a
//! module (its `main` is `pub` for this) so it cannot rot unnoticed.

#[path = "../examples/import_and_rollback.rs"]
mod import_and_rollback;

#[test]
fn example_import_and_rollback_runs() {
    import_and_rollback::main();
}
