//! The crate's example runs to completion: it is compiled into this binary as a
//! module (its `main` is `pub` for this) so it cannot rot unnoticed.

#[path = "../examples/load_pack.rs"]
mod load_pack;

#[test]
fn example_load_pack_runs() {
    load_pack::main();
}
