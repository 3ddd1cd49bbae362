//! The crate's example runs to completion: it is compiled into this binary as a
//! module (its `main` is `pub` for this) so it cannot rot unnoticed.

#[path = "../examples/list_through_adapter.rs"]
mod list_through_adapter;

#[test]
fn example_list_through_adapter_runs() {
    list_through_adapter::main();
}
