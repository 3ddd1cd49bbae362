//! The integration tests of `relay-domain`, one test binary: each module is one area.

mod batch_input;
mod examples;
mod fuzz;
mod properties;
