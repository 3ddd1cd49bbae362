//! The crate's example runs to completion: it is compiled into this binary as a
//! module (its `main` is `pub` for this) so it cannot rot unnoticed.

#[path = "../examples/in_memory_store.rs"]
mod in_memory_store;

#[test]
fn example_in_memory_store_runs() {
    in_memory_store::main();
}
