//! The integration tests of `relay-server`: the real server binary over HTTP, in one
//! test binary; each module is one area.

mod audit;
mod batch_import;
mod common;
mod hosts_packs;
mod imports;
mod large_batch;
mod listener;
mod reconcile;
mod redaction;
mod security;
