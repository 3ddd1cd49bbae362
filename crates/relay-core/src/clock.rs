//! The clock port: how a flow reads the time and waits.
//!
//! The gateway probe waits through warm-up windows, backs off between attempts and
//! polls past the host's models cache; it reads the time and sleeps only through a
//! [`Clock`]. Production uses [`SystemClock`] (real time, real sleeps); tests use
//! [`crate::fakes::FakeClock`], whose sleeps advance a virtual time at once.

use std::thread;
use std::time::{Duration, Instant};

/// Reads the monotonic time and waits. Shared by every worker thread of a flow.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> Instant;

    /// Waits `duration` (a fake clock advances its time instead).
    fn sleep(&self, duration: Duration);

    /// Time passed since `earlier` (zero when `earlier` is in the future).
    fn elapsed(&self, earlier: Instant) -> Duration {
        self.now().saturating_duration_since(earlier)
    }
}

/// The real clock: [`Instant::now`] and [`std::thread::sleep`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep(&self, duration: Duration) {
        thread::sleep(duration);
    }
}

/// The [`SystemClock`], for ports bundles built in place.
pub static SYSTEM_CLOCK: SystemClock = SystemClock;

/// Milliseconds of `d`, saturating.
pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_clock_moves_forward_and_sleeps() {
        let c = SystemClock;
        let t = c.now();
        c.sleep(Duration::from_millis(2));
        assert!(c.elapsed(t) >= Duration::from_millis(2));
        assert_eq!(millis(Duration::from_millis(1500)), 1500);
    }
}
