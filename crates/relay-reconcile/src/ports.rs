//! The ports reconcile and doctor work with.

use std::fmt;

use relay_access::{Journal, ProbeObserver, SubscriberVault};
use relay_sub2api::HostAdapter;

/// Everything reconcile and doctor talk to: the host adapter and the
/// application's ports, all for one (host, pack, provider).
#[derive(Clone, Copy)]
pub struct ReconcilePorts<'a> {
    /// The host (the only way to reach it).
    pub adapter: &'a dyn HostAdapter,
    /// The provider's managed-resource journal on this host. Its scope's batch
    /// (usually `None`) is put on the few entries a run writes (a subscription
    /// re-assigned by doctor).
    pub journal: &'a dyn Journal,
    /// Sealed passwords and user keys of managed subscribers on this host (the
    /// managed probe key comes from here).
    pub vault: &'a dyn SubscriberVault,
    /// Receives every probe (account tests and models, gateway models and chat,
    /// reachability) as it happens.
    pub observer: &'a dyn ProbeObserver,
}

impl fmt::Debug for ReconcilePorts<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReconcilePorts")
            .field("scope", &self.journal.scope())
            .finish_non_exhaustive()
    }
}
