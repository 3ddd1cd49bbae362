//! The integration tests of `relay-provision`, one test binary: each module is one area.

mod examples;
mod import;
mod native;
mod preview;
mod redaction;
mod resume;
mod rollback_host;
