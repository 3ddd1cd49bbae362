//! The crate's example runs to completion: it is compiled into this binary as a
//! module (its `main` is `pub` for this) so it cannot rot unnoticed.

#[path = "../examples/profile_a_vendor.rs"]
mod profile_a_vendor;

#[test]
fn example_profile_a_vendor_runs() {
    profile_a_vendor::main();
}
