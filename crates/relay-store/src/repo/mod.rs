//! Repository traits and their implementations.
//!
//! Use-cases depend on the traits; the `Sqlite*` types (written in the SQL dialect
//! both backends run) are what [`crate::Store`] hands out.

mod audit;
mod batches;
mod drift;
mod hosts;
mod installs;
mod key_health;
mod leases;
mod packs;
mod probes;
mod reconcile;
mod resources;
mod runs;
mod secrets;

pub(crate) use hosts::admin_aad;
pub(crate) use runs::run_item_key_aad;
pub(crate) use secrets::{password_aad, sealed_secret_aad};

pub use audit::{
    AuditRepository, OperationRepository, SqliteAudit, SqliteOperations, AUDIT_PAGE_DEFAULT,
    AUDIT_PAGE_MAX,
};
pub use batches::{BatchRepository, SqliteBatches};
pub use drift::{DriftCheckRecord, DriftRepository, SqliteDriftChecks};
pub use hosts::{HostRepository, SqliteHosts};
pub use installs::{InstallRepository, SqliteInstalls};
pub use key_health::{KeyHealthRecord, KeyHealthRepository, KeyStateCount, SqliteKeyHealth};
pub use leases::{Acquired, Lease, LeaseRepository, SqliteLeases};
pub use packs::{PackRepository, ProviderRepository, SqlitePacks, SqliteProviders};
pub use probes::{AccessClosureRepository, ProbeRepository, SqliteAccessClosures, SqliteProbes};
pub use reconcile::{ReconcileRepository, SqliteReconcileRuns};
pub use resources::{ResourceRepository, SqliteResources};
pub use runs::{
    ItemLease, NewRun, NewRunItem, NewRunItemEvent, Page, RetryOutcome, RetryScope, RunCounts,
    RunFilter, RunItemEventRecord, RunItemPatch, RunItemRecord, RunRecord, RunRepository,
    SqliteRuns,
};
pub use secrets::{SecretRepository, SqliteSecrets, SqliteSubscribers, SubscriberRepository};
