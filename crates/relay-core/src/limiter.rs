//! Adaptive concurrency: how many host calls a flow keeps in flight when the host
//! pushes back (AIMD, as TCP's congestion window).
//!
//! An [`AdaptiveLimit`] starts at the configured bound (the import's concurrency).
//! A worker takes a [`Permit`] before a host call and returns it with the call's
//! [`CallOutcome`]:
//!
//! * **congested** (the host answered 429 or 503, or an account test reports its
//!   upstream did): the limit halves (never below 1), at most once per congestion
//!   window: only a call whose permit was taken at the current limit halves it, so
//!   a burst of 429s from calls that were already in flight halves it once. No new
//!   permit is handed out before the host's `Retry-After` (or
//!   [`LimitSettings::default_pause`] when it sent none) has passed;
//! * **success**: every `limit` successes add 1 (one step per round), never above
//!   the bound;
//! * anything else leaves the limit as it is.
//!
//! [`AdaptiveLimit::call`] runs one host call under a permit and, when the host
//! pushed back, tries it again after the pause (at most [`LimitSettings::max_tries`]
//! executions; a `Retry-After` longer than [`LimitSettings::max_pause`] is given
//! back to the caller at once). Only calls the host refused before doing any work
//! may be repeated this way: 429 and 503 answers, and writes that carry an
//! `Idempotency-Key`.
//!
//! **With the adapter's own retries.** The adapter retries reads itself (a 429
//! whose `Retry-After` is at most 30 s is waited out inside the call, holding the
//! permit); writes and account tests it sends once. So a read's short wait is
//! never doubled (the limiter sees the success that follows), and a 429 the
//! adapter gives back — a write's, an account test's, or a read's long
//! `Retry-After` — is honoured here. Writes that go through
//! [`relay_sub2api::retry_write`] under a limit set
//! [`relay_sub2api::WriteRetry::defer_congestion`], so the pause is taken once, by
//! the limit, for every worker.
//!
//! Thread-safe (a mutex and a condition variable), synchronous; waits for a pause
//! go through the [`Clock`] port, so tests run them in virtual time.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use relay_sub2api::HostError;

use crate::clock::Clock;

/// How an [`AdaptiveLimit`] retries and pauses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitSettings {
    /// Executions of one call (the first included) while the host pushes back.
    pub max_tries: u32,
    /// Pause after a 429/503 that carried no `Retry-After`.
    pub default_pause: Duration,
    /// Longest pause honoured: a `Retry-After` beyond it ends the call's retries
    /// (the pause of the other workers is cut to it).
    pub max_pause: Duration,
}

impl Default for LimitSettings {
    /// 8 executions, 1 s without `Retry-After`, pauses of at most 60 s.
    fn default() -> Self {
        LimitSettings {
            max_tries: 8,
            default_pause: Duration::from_secs(1),
            max_pause: Duration::from_secs(60),
        }
    }
}

/// What a host call under a permit came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    /// The call did its work.
    Success,
    /// The host (or its upstream) is overloaded: halve, and hand out no permit for
    /// `pause` (zero: halve only).
    Congested {
        /// How long new permits wait.
        pause: Duration,
    },
    /// Any other failure: the limit stays.
    Neutral,
}

/// A snapshot of a limit, for reports and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitState {
    /// The configured bound (the most permits ever out at once).
    pub bound: usize,
    /// Permits allowed out now.
    pub limit: usize,
    /// Permits out now.
    pub in_flight: usize,
    /// How often the limit was halved.
    pub decreases: u64,
    /// The lowest limit so far.
    pub lowest: usize,
}

#[derive(Debug)]
struct Inner {
    limit: usize,
    in_flight: usize,
    /// Successes since the limit last moved.
    successes: usize,
    /// Bumped at every decrease: a permit taken before it does not halve again.
    generation: u64,
    /// No permit is handed out before this instant.
    resume_at: Option<Instant>,
    decreases: u64,
    lowest: usize,
}

/// An AIMD limit on the host calls in flight (see the module documentation).
pub struct AdaptiveLimit<'c> {
    bound: usize,
    settings: LimitSettings,
    clock: &'c dyn Clock,
    inner: Mutex<Inner>,
    changed: Condvar,
}

impl std::fmt::Debug for AdaptiveLimit<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdaptiveLimit")
            .field("state", &self.state())
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The right to make one host call; give it back with [`Permit::finish`] (dropping
/// it counts as [`CallOutcome::Neutral`]).
#[derive(Debug)]
pub struct Permit<'l, 'c> {
    limit: &'l AdaptiveLimit<'c>,
    generation: u64,
    done: bool,
}

impl Permit<'_, '_> {
    /// Gives the permit back with the call's outcome.
    pub fn finish(mut self, outcome: CallOutcome) {
        self.done = true;
        self.limit.release(self.generation, outcome);
    }
}

impl Drop for Permit<'_, '_> {
    fn drop(&mut self) {
        if !self.done {
            self.limit.release(self.generation, CallOutcome::Neutral);
        }
    }
}

/// The pause a host error asks for, when it is a push-back (a 429, or a 503: the
/// host or a proxy in front of it is overloaded); `None` for any other error. A
/// 503's `Retry-After` is read from the host's `metadata.retry_after` (the adapter
/// keeps the header only on 429s and idempotency 409s).
pub fn congestion_pause(error: &HostError) -> Option<Option<Duration>> {
    match error {
        HostError::RateLimited { retry_after, .. } => Some(*retry_after),
        HostError::Host {
            status: 503,
            metadata,
            ..
        } => Some(
            metadata
                .get("retry_after")
                .and_then(|s| s.trim().parse::<u64>().ok())
                .map(Duration::from_secs),
        ),
        _ => None,
    }
}

fn lock(m: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<'c> AdaptiveLimit<'c> {
    /// A limit starting at (and never above) `bound` (at least 1), with the default
    /// settings; pauses are waited on `clock`.
    pub fn new(bound: usize, clock: &'c dyn Clock) -> Self {
        AdaptiveLimit::with_settings(bound, clock, LimitSettings::default())
    }

    /// A limit with explicit settings.
    pub fn with_settings(bound: usize, clock: &'c dyn Clock, settings: LimitSettings) -> Self {
        let bound = bound.max(1);
        AdaptiveLimit {
            bound,
            settings,
            clock,
            inner: Mutex::new(Inner {
                limit: bound,
                in_flight: 0,
                successes: 0,
                generation: 0,
                resume_at: None,
                decreases: 0,
                lowest: bound,
            }),
            changed: Condvar::new(),
        }
    }

    /// The settings.
    pub fn settings(&self) -> LimitSettings {
        self.settings
    }

    /// The limit as it is now.
    pub fn state(&self) -> LimitState {
        let st = lock(&self.inner);
        LimitState {
            bound: self.bound,
            limit: st.limit,
            in_flight: st.in_flight,
            decreases: st.decreases,
            lowest: st.lowest,
        }
    }

    /// Waits until a pause is over and fewer than `limit` permits are out, then
    /// takes one.
    pub fn acquire(&self) -> Permit<'_, 'c> {
        let mut st = lock(&self.inner);
        loop {
            let now = self.clock.now();
            if let Some(until) = st.resume_at.filter(|u| *u > now) {
                drop(st);
                self.clock.sleep(until - now);
                st = lock(&self.inner);
                continue;
            }
            if st.in_flight < st.limit {
                st.in_flight += 1;
                return Permit {
                    limit: self,
                    generation: st.generation,
                    done: false,
                };
            }
            st = self.changed.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn release(&self, generation: u64, outcome: CallOutcome) {
        let mut st = lock(&self.inner);
        st.in_flight = st.in_flight.saturating_sub(1);
        match outcome {
            CallOutcome::Success => {
                st.successes += 1;
                if st.successes >= st.limit {
                    st.successes = 0;
                    st.limit = (st.limit + 1).min(self.bound);
                }
            }
            CallOutcome::Congested { pause } => {
                if generation == st.generation {
                    let before = st.limit;
                    st.limit = (st.limit / 2).max(1);
                    st.generation += 1;
                    st.successes = 0;
                    st.decreases += 1;
                    st.lowest = st.lowest.min(st.limit);
                    tracing::info!(
                        from = before,
                        to = st.limit,
                        pause_ms = crate::clock::millis(pause),
                        "the host pushed back; fewer calls in flight"
                    );
                }
                let pause = pause.min(self.settings.max_pause);
                if !pause.is_zero() {
                    let until = self.clock.now() + pause;
                    st.resume_at = Some(st.resume_at.map_or(until, |u| u.max(until)));
                }
            }
            CallOutcome::Neutral => {}
        }
        drop(st);
        self.changed.notify_all();
    }

    /// The outcome of a finished host call.
    pub fn outcome_of<T>(&self, result: &Result<T, HostError>) -> CallOutcome {
        match result {
            Ok(_) => CallOutcome::Success,
            Err(e) => match congestion_pause(e) {
                Some(pause) => CallOutcome::Congested {
                    pause: pause.unwrap_or(self.settings.default_pause),
                },
                None => CallOutcome::Neutral,
            },
        }
    }

    /// Runs `call` under a permit; while the host pushes back (429/503) it runs it
    /// again after the pause, up to [`LimitSettings::max_tries`] executions. A
    /// push-back whose `Retry-After` exceeds [`LimitSettings::max_pause`], and the
    /// last one, are returned. `call` must be safe to repeat after a 429/503.
    pub fn call<T>(&self, call: impl FnMut() -> Result<T, HostError>) -> Result<T, HostError> {
        self.call_judged(call, |_| false)
    }

    /// Like [`AdaptiveLimit::call`], where an answer may itself report a push-back
    /// from further upstream (an account test whose vendor answered 429):
    /// `upstream_congested` answers true for those, which halves the limit (no
    /// pause: nothing says for how long) and returns the answer as it is.
    pub fn call_judged<T>(
        &self,
        mut call: impl FnMut() -> Result<T, HostError>,
        upstream_congested: impl Fn(&T) -> bool,
    ) -> Result<T, HostError> {
        let mut tries = 0u32;
        loop {
            let permit = self.acquire();
            let result = call();
            let outcome = match &result {
                Ok(answer) if upstream_congested(answer) => CallOutcome::Congested {
                    pause: Duration::ZERO,
                },
                other => self.outcome_of(other),
            };
            permit.finish(outcome);
            let (CallOutcome::Congested { pause }, Err(_)) = (outcome, &result) else {
                return result;
            };
            tries += 1;
            if tries >= self.settings.max_tries.max(1) || pause > self.settings.max_pause {
                return result;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::FakeClock;
    use relay_sub2api::ErrorDetail;
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::thread;

    fn limited(secs: Option<u64>) -> HostError {
        HostError::RateLimited {
            retry_after: secs.map(Duration::from_secs),
            detail: ErrorDetail {
                status: 429,
                ..ErrorDetail::default()
            },
        }
    }

    fn host(status: u16, retry_after: Option<&str>) -> HostError {
        HostError::Host {
            status,
            code: None,
            message: "busy".into(),
            metadata: retry_after
                .map(|s| BTreeMap::from([("retry_after".to_string(), s.to_string())]))
                .unwrap_or_default(),
        }
    }

    #[test]
    fn a_burst_of_429s_from_calls_in_flight_halves_once_and_pauses_until_retry_after() {
        let clock = FakeClock::new();
        let limit = AdaptiveLimit::new(16, &clock);
        let permits: Vec<_> = (0..16).map(|_| limit.acquire()).collect();
        assert_eq!(limit.state().in_flight, 16);
        for p in permits {
            p.finish(limit.outcome_of::<()>(&Err(limited(Some(2)))));
        }
        let s = limit.state();
        assert_eq!((s.limit, s.in_flight, s.decreases, s.lowest), (8, 0, 1, 8));
        // The next permit waits out the Retry-After, on the clock.
        let p = limit.acquire();
        assert_eq!(clock.sleeps(), vec![Duration::from_secs(2)]);
        // A permit taken at the halved limit halves again, not below 1.
        p.finish(CallOutcome::Congested {
            pause: Duration::ZERO,
        });
        assert_eq!(limit.state().limit, 4);
        for _ in 0..3 {
            limit.acquire().finish(CallOutcome::Congested {
                pause: Duration::ZERO,
            });
        }
        assert_eq!((limit.state().limit, limit.state().lowest), (1, 1));
        assert_eq!(clock.sleeps().len(), 1, "zero pauses do not wait");
    }

    #[test]
    fn successes_grow_the_limit_by_one_per_round_up_to_the_bound() {
        let clock = FakeClock::new();
        let limit = AdaptiveLimit::new(4, &clock);
        limit.acquire().finish(CallOutcome::Congested {
            pause: Duration::ZERO,
        });
        assert_eq!(limit.state().limit, 2);
        let mut seen = Vec::new();
        for _ in 0..12 {
            limit.acquire().finish(CallOutcome::Success);
            seen.push(limit.state().limit);
        }
        // 2 successes at 2 → 3, 3 at 3 → 4, then it stays at the bound.
        assert_eq!(seen, vec![2, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4]);
        // Neutral outcomes (and dropped permits) change nothing.
        limit.acquire().finish(CallOutcome::Neutral);
        drop(limit.acquire());
        let s = limit.state();
        assert_eq!((s.limit, s.in_flight, s.decreases), (4, 0, 1));
    }

    #[test]
    fn pushed_back_calls_are_retried_after_the_pause_and_long_waits_are_given_back() {
        let clock = FakeClock::new();
        let limit = AdaptiveLimit::new(8, &clock);
        let mut answers = vec![
            Err(limited(Some(3))),
            Err(host(503, None)),
            Err(host(503, Some("2"))),
            Ok(7),
        ]
        .into_iter();
        assert_eq!(limit.call(|| answers.next().unwrap()), Ok(7));
        assert_eq!(
            clock.sleeps(),
            vec![
                Duration::from_secs(3),
                Duration::from_secs(1),
                Duration::from_secs(2)
            ]
        );
        // Each push-back came from a permit taken at the limit then: 8 → 4 → 2 → 1;
        // the success is a whole round at 1: → 2.
        let s = limit.state();
        assert_eq!((s.lowest, s.decreases, s.limit), (1, 3, 2));

        // Other errors are returned at once and leave the limit alone.
        let calls = AtomicUsize::new(0);
        let r: Result<(), _> = limit.call(|| {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(host(500, None))
        });
        assert_eq!((r, calls.load(Ordering::SeqCst)), (Err(host(500, None)), 1));

        // A Retry-After beyond the longest pause ends the retries at once.
        let clock = FakeClock::new();
        let limit = AdaptiveLimit::new(8, &clock);
        let calls = AtomicUsize::new(0);
        let r: Result<(), _> = limit.call(|| {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(limited(Some(3600)))
        });
        assert_eq!(
            (r, calls.load(Ordering::SeqCst)),
            (Err(limited(Some(3600))), 1)
        );
        limit.acquire().finish(CallOutcome::Success);
        assert_eq!(clock.sleeps(), vec![Duration::from_secs(60)]);

        // The tries are bounded.
        let clock = FakeClock::new();
        let limit = AdaptiveLimit::new(2, &clock);
        let calls = AtomicUsize::new(0);
        let r: Result<(), _> = limit.call(|| {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(limited(None))
        });
        assert!(r.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 8);
        assert_eq!(clock.sleeps().len(), 7);
    }

    #[test]
    fn an_upstream_push_back_halves_without_a_pause_or_a_retry() {
        let clock = FakeClock::new();
        let limit = AdaptiveLimit::new(8, &clock);
        let calls = AtomicUsize::new(0);
        let r: Result<u16, HostError> = limit.call_judged(
            || {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok(429)
            },
            |status| *status == 429,
        );
        assert_eq!((r, calls.load(Ordering::SeqCst)), (Ok(429), 1));
        assert_eq!(limit.state().limit, 4);
        limit.acquire().finish(CallOutcome::Success);
        assert!(clock.sleeps().is_empty());
    }

    #[test]
    fn the_limit_holds_across_threads() {
        let clock = Arc::new(FakeClock::new());
        let limit = AdaptiveLimit::new(6, &*clock);
        limit.acquire().finish(CallOutcome::Congested {
            pause: Duration::ZERO,
        });
        assert_eq!(limit.state().limit, 3);
        let in_flight = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        thread::scope(|s| {
            for _ in 0..6 {
                s.spawn(|| {
                    for _ in 0..20 {
                        let p = limit.acquire();
                        let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        thread::sleep(Duration::from_micros(200));
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                        // Count the peak before the success can raise the limit.
                        p.finish(CallOutcome::Neutral);
                    }
                });
            }
        });
        let peak = peak.load(Ordering::SeqCst);
        assert!((1..=3).contains(&peak), "peak {peak}");
        assert_eq!(limit.state().in_flight, 0);
    }

    #[test]
    fn only_429_and_503_are_push_backs() {
        assert_eq!(
            congestion_pause(&limited(Some(4))),
            Some(Some(Duration::from_secs(4)))
        );
        assert_eq!(congestion_pause(&limited(None)), Some(None));
        assert_eq!(congestion_pause(&host(503, None)), Some(None));
        for e in [
            host(500, None),
            host(502, None),
            HostError::Transport("reset".into()),
        ] {
            assert_eq!(congestion_pause(&e), None, "{e}");
        }
    }
}
