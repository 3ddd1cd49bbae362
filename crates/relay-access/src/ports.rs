//! The bundle of ports the access closure works with.

use std::fmt;

use relay_sub2api::HostAdapter;

use crate::journal::Journal;
use crate::observer::ProbeObserver;
use crate::vault::{Randomness, SubscriberVault};

/// Everything the closure talks to: the host adapter and the application's ports.
#[derive(Clone, Copy)]
pub struct AccessPorts<'a> {
    /// The host.
    pub adapter: &'a dyn HostAdapter,
    /// The managed-resource journal of the provider (and batch, during an import).
    pub journal: &'a dyn Journal,
    /// Sealed passwords and user keys of managed subscribers on this host.
    pub vault: &'a dyn SubscriberVault,
    /// Randomness for generated passwords and user keys.
    pub random: &'a dyn Randomness,
    /// Receives probe records as they happen.
    pub observer: &'a dyn ProbeObserver,
}

impl fmt::Debug for AccessPorts<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessPorts")
            .field("scope", &self.journal.scope())
            .finish_non_exhaustive()
    }
}
