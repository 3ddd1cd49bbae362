//! The integration tests of `relay`: the real CLI binary against a real server
//! process, in one test binary; each module is one area. `common` also holds the
//! server process itself (`common::server_process`, run by this binary again).

mod batch_import_cli;
mod common;
mod compliance_cli;
mod import_cli;
mod operations_cli;
mod pack_cli;
mod redaction_cli;
mod server_cli;
