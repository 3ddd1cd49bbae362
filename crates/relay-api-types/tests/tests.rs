//! The integration tests of `relay-api-types`, one test binary: each module is one area.

mod examples;
mod openapi;
