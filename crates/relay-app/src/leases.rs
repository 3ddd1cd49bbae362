//! Database leases of the work several servers on one database share: the
//! per-provider lock (imports, resumes, rollbacks, reconciles), and the end of a
//! batch-import run. A [`LeaseKeeper`] renews its lease on a thread of its own while
//! the work goes on, and is the work's fence: before each write that must not
//! happen beside another server ([`LeaseKeeper::ensure`]: a journal record before a
//! host object is made, the end of a batch) it proves the lease is still its own.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use relay_store::{Acquired, Lease, LeaseRepository, Store};

use crate::error::AppResult;

/// A held lease, renewed until dropped, then released.
#[derive(Debug)]
pub(crate) struct LeaseKeeper {
    store: Store,
    ttl: Duration,
    state: Mutex<Kept>,
    lost: AtomicBool,
    /// Set when the keeper is dropped; the heartbeat waits on it without holding
    /// the keeper, so dropping the keeper releases the lease at once.
    stop: Arc<(Mutex<bool>, Condvar)>,
}

#[derive(Debug)]
struct Kept {
    lease: Lease,
    renewed: Instant,
}

/// The work of `name` is held by another server (or this one, elsewhere).
#[derive(Debug, Clone)]
pub(crate) struct HeldElsewhere(pub Lease);

impl LeaseKeeper {
    /// Takes the lease `name` for `owner`, renewing it every third of `ttl` on a
    /// thread of its own; [`HeldElsewhere`] when its live holder is someone else.
    pub(crate) fn acquire(
        store: &Store,
        name: &str,
        owner: &str,
        ttl: Duration,
    ) -> AppResult<Result<Arc<LeaseKeeper>, HeldElsewhere>> {
        let lease = match store.leases().acquire(name, owner, ttl)? {
            Acquired::Taken(lease) => lease,
            Acquired::Held(holder) => return Ok(Err(HeldElsewhere(holder))),
        };
        let keeper = Arc::new(LeaseKeeper {
            store: store.clone(),
            ttl,
            state: Mutex::new(Kept {
                lease,
                renewed: Instant::now(),
            }),
            lost: AtomicBool::new(false),
            stop: Arc::new((Mutex::new(false), Condvar::new())),
        });
        let weak = Arc::downgrade(&keeper);
        let stop = keeper.stop.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("lease-{name}"))
            .spawn(move || heartbeat(weak, &stop, ttl));
        if let Err(e) = spawned {
            // Without its heartbeat the lease is still renewed by `ensure` at every
            // fenced write; it lapses only when the work stalls.
            tracing::warn!(error = %e, "cannot start a lease heartbeat");
        }
        Ok(Ok(keeper))
    }

    /// Proves the lease is still this keeper's (renewing it when a third of its
    /// time has passed since the last renewal); an error naming the lease when it
    /// lapsed and another server took the work over.
    pub(crate) fn ensure(&self) -> Result<(), String> {
        if !self.lost.load(Ordering::SeqCst) {
            let due = self.lock().renewed.elapsed() >= self.ttl / 3;
            if !due || self.renew() {
                return Ok(());
            }
        }
        let name = self.lock().lease.name.clone();
        Err(format!(
            "the lease {name} lapsed and another server took this work over: this server stopped it"
        ))
    }

    /// Renews now; false when the lease is lost (fenced off).
    fn renew(&self) -> bool {
        let lease = self.lock().lease.clone();
        match self.store.leases().renew(&lease, self.ttl) {
            Ok(Some(renewed)) => {
                let mut kept = self.lock();
                kept.lease = renewed;
                kept.renewed = Instant::now();
                true
            }
            Ok(None) => {
                if !self.lost.swap(true, Ordering::SeqCst) {
                    tracing::warn!(lease = %lease.name, owner = %lease.owner, "lease lost: another server took this work over");
                }
                false
            }
            Err(e) => {
                // A store error is not a lost lease: the next renewal tries again,
                // and the lease only lapses after its whole time.
                tracing::warn!(lease = %lease.name, error = %e, "cannot renew a lease");
                true
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for LeaseKeeper {
    fn drop(&mut self) {
        let (stopped, wake) = &*self.stop;
        *stopped.lock().unwrap_or_else(|p| p.into_inner()) = true;
        wake.notify_all();
        if !self.lost.load(Ordering::SeqCst) {
            let lease = self.lock().lease.clone();
            if let Err(e) = self.store.leases().release(&lease) {
                tracing::warn!(lease = %lease.name, error = %e, "cannot release a lease: it lapses by itself");
            }
        }
    }
}

/// Renews the keeper's lease every third of `ttl` until the keeper is dropped.
fn heartbeat(keeper: Weak<LeaseKeeper>, stop: &(Mutex<bool>, Condvar), ttl: Duration) {
    let every = (ttl / 3).max(Duration::from_millis(50));
    let (stopped, wake) = stop;
    loop {
        let guard = stopped.lock().unwrap_or_else(|p| p.into_inner());
        let (guard, _) = wake
            .wait_timeout_while(guard, every, |s| !*s)
            .unwrap_or_else(|p| p.into_inner());
        if *guard {
            return;
        }
        drop(guard);
        let Some(k) = keeper.upgrade() else { return };
        if !k.renew() {
            return;
        }
    }
}

/// The lease name of the per-provider lock.
pub(crate) fn provider_lease(host: &str, pack: &str, provider: &str) -> String {
    format!("provider/{host}/{pack}/{provider}")
}

/// The lease name of ending a batch-import run.
pub(crate) fn run_lease(run_id: &str) -> String {
    format!("run/{run_id}")
}
