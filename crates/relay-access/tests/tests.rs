//! The integration tests of `relay-access`, one test binary: each module is one area.

mod access;
mod examples;
mod host_limits;
mod invalid_auth;
