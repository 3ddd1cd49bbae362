//! The integration tests of `relay-store`, one test binary: each module is one area.

mod audit;
mod batches_resources;
mod common;
mod drift;
mod examples;
mod hosts_packs;
mod key_health;
mod leases;
mod migrations;
mod probes_reconcile;
mod redaction;
mod runs;
mod schema_parity;
mod secrets;
