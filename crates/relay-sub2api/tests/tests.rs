//! The integration tests of `relay-sub2api`, one test binary: each module is one area.

mod against_mock;
mod contract;
mod examples;
mod real_exchanges;
mod redaction;
mod upstream;
