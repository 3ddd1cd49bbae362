//! The integration tests of `sub2api-mock`, one test binary: each module is one area.

mod admin_api;
mod binary;
mod common;
mod echo;
mod examples;
mod faults;
mod gateway;
mod host_fidelity;
mod idempotency;
mod mock_vendor;
mod native_platforms;
mod real_sessions;
mod vendor_role;
