//! The crate's example runs to completion: it is compiled into this binary as a
//! module (its `main` is `pub` for this) so it cannot rot unnoticed.

#[path = "../examples/close_subscription.rs"]
mod close_subscription;

#[test]
fn example_close_subscription_runs() {
    close_subscription::main();
}
