//! The integration tests of `relay-upstream`, one test binary: each module is one area.

mod against_mock_vendor;
mod examples;
mod reads;
mod wire;
