//! The integration tests of `relay-api`, one test binary: each module is one area.

mod console;
mod edge;
mod examples;
mod hostile;
mod openapi;
