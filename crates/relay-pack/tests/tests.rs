//! The integration tests of `relay-pack`, one test binary: each module is one area.

mod common;
mod drift;
mod examples;
mod fixtures;
mod fuzz;
mod key_health;
mod matching;
mod proptests;
mod real_pack;
mod zip_safety;
