//! The crate's example runs to completion: it is compiled into this binary as a
//! module (its `main` is `pub` for this) so it cannot rot unnoticed.

#[path = "../../examples/import_batch.rs"]
mod import_batch;

#[test]
fn example_import_batch_runs() {
    import_batch::main();
}
