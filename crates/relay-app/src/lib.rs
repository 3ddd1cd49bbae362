//! Use-cases of the relay manager. It composes the state store, one host adapter
//! per registered host, and the provisioning and access crates; it implements their
//! ports with the store, runs crash recovery at start-up, and owns the background
//! workers. Every function is blocking; the HTTP edge calls it on blocking threads.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod access;
mod access_proofs;
mod app;
pub mod audit;
mod balances;
mod batches;
mod context;
mod error;
pub mod evidence;
mod hosts;
mod imports;
mod keys;
mod leases;
pub mod metrics;
mod models;
mod packs;
pub mod ports;
mod reconcile;
mod recovery;
mod resume;
mod rollback;
mod run_worker;
mod runs;
mod scheduler;

pub use access::{AccessInput, AccessStatusView, ProviderHostStatus, ProviderStatusView};
pub use app::{random_bytes, App, AppConfig};
pub use batches::BatchView;
pub use error::{AppError, AppResult};
pub use evidence::EvidenceHead;
pub use hosts::{
    capability_map, validate_base_url, HostAuthInput, HostView, RegisterHost, HARD_CAPABILITIES,
};
pub use imports::ImportInput;
pub use keys::{KeyHealthDetailView, KeyHealthListView, KeyHealthSummaryView};
pub use models::{ModelsDiffInput, ModelsDiffView, ProposalView};
pub use packs::{manifest_of, PackSource, PackView, ProviderSummary};
pub use reconcile::{DiagnosisView, ReconcileOptions};
pub use recovery::{RecoveryReport, SweeperHandle};
pub use relay_core::SubscriberSelector;
pub use relay_store::{Page, RetryOutcome, RunItemEventRecord, RunItemRecord, RunRecord};
pub use run_worker::{answer_class, backoff, RunWorkerConfig, RunWorkerHandle};
pub use runs::{RunInput, RunListFilter, ADHOC_PACK_PREFIX};
pub use scheduler::{parse_interval, SchedulerConfig, SchedulerHandle};
