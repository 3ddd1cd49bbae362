//! The integration tests of `relay-reconcile`, one test binary: each module is one area.

mod diagnose;
mod doctor;
mod examples;
mod key_rebind;
mod native;
mod reconcile;
mod recovery;
