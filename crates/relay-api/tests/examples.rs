//! The crate's example runs to completion, so it cannot rot.

#[path = "../examples/serve_on_loopback.rs"]
mod serve_on_loopback;

#[test]
fn the_serve_on_loopback_example_runs() {
    serve_on_loopback::main();
}
