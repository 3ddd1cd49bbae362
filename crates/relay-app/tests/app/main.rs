//! The `App` facade in process: an in-memory store and the mock host started in
//! this process, driven through the use-cases the HTTP API calls.
//!
//! One test binary for the crate; each module is one use-case.

mod support;

mod audit;
mod balances;
mod examples;
mod imports;
mod key_health;
mod locks;
mod models;
mod recovery;
mod rollback;
mod runs;
mod servers;
