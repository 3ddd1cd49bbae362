//! The one bundle of ports every flow works with.

use std::fmt;

use relay_sub2api::HostAdapter;

use crate::clock::Clock;
use crate::journal::Journal;
use crate::observer::Observer;
use crate::vault::{Randomness, SubscriberVault};

/// Everything a flow (import, resume, access closure, reconcile, doctor) talks to:
/// the host adapter and the application's ports, all for one (host, pack,
/// provider). The application implements the ports over its store; [`crate::fakes`]
/// has in-memory ones.
#[derive(Clone, Copy)]
pub struct Ports<'a> {
    /// The host (the only way to reach it).
    pub adapter: &'a dyn HostAdapter,
    /// The managed-resource journal of the provider on this host. Its scope's batch
    /// is put on the entries a flow writes (`None` outside an import).
    pub journal: &'a dyn Journal,
    /// Sealed passwords and user keys of managed subscribers on this host.
    pub vault: &'a dyn SubscriberVault,
    /// Randomness for generated passwords and user keys.
    pub random: &'a dyn Randomness,
    /// Receives probe records (and, during imports, batch progress) as they happen.
    pub observer: &'a dyn Observer,
    /// The time and the waits of the gateway probe.
    pub clock: &'a dyn Clock,
}

impl<'a> Ports<'a> {
    /// These ports with another observer (e.g. one that redacts first).
    pub fn with_observer(&self, observer: &'a dyn Observer) -> Ports<'a> {
        Ports { observer, ..*self }
    }
}

impl fmt::Debug for Ports<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ports")
            .field("scope", &self.journal.scope())
            .finish_non_exhaustive()
    }
}
