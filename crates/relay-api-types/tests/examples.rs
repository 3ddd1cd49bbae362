//! The crate's example runs to completion, so it cannot rot.

#[path = "../examples/read_a_batch.rs"]
mod read_a_batch;

#[test]
fn the_read_a_batch_example_runs() {
    read_a_batch::main();
}
