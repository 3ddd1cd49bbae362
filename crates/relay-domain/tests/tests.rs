//! The integration tests of `relay-domain`, one test binary: each module is one area.

mod examples;
mod properties;
