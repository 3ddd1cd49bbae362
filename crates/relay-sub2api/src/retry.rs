//! Retrying a write that carries an `Idempotency-Key`.
//!
//! The adapter sends writes exactly once; a caller that wants a failed write retried
//! resends it with the *same* key through [`retry_write`], which follows the host's
//! idempotency rules (`service/idempotency.go`):
//!
//! * a failed execution (any error the handler returns, e.g. a 500) stores the key as
//!   `failed_retryable` for `idempotency.failed_retry_backoff_seconds` (default 5 s);
//!   a retry inside that window is `409 IDEMPOTENCY_RETRY_BACKOFF`. So after a 5xx the
//!   next attempt waits [`WriteRetry::failure_backoff`] (a little over 5 s);
//! * a write still running is `409 IDEMPOTENCY_IN_PROGRESS`; both 409s carry a
//!   `Retry-After` in whole seconds rounded *down*, so the wait is `Retry-After` + 1 s;
//! * a retry after the window runs the write again; a retry after a success replays it.
//!
//! Every wait is bounded by [`WriteRetry::max_wait`]; the caller falls back to
//! looking the object up once the attempts are spent.

use std::fmt;
use std::thread;
use std::time::Duration;

use crate::error::HostError;

/// How [`retry_write`] retries.
#[derive(Clone, Copy)]
pub struct WriteRetry {
    /// Executions of the write (the first included) after failures that may be
    /// transient (transport, 429, 5xx).
    pub attempts: u32,
    /// Answers `IDEMPOTENCY_IN_PROGRESS` / `IDEMPOTENCY_RETRY_BACKOFF` waited out (they
    /// do not count as executions: the host did not run the write).
    pub pending_waits: u32,
    /// Longest single wait.
    pub max_wait: Duration,
    /// Wait after a 5xx: the host's failed-execution backoff (5 s) plus a margin.
    pub failure_backoff: Duration,
    /// Wait after a transport error (an in-flight write answers `IN_PROGRESS` next).
    pub transport_pause: Duration,
    /// Give a 429 or a 503 back at once instead of waiting it out: for a caller whose
    /// adaptive limit (relay-core's `AdaptiveLimit`) pauses every worker and sends
    /// the write again, with the same key, so the pause is taken once.
    pub defer_congestion: bool,
    /// How to wait (a test can record instead of sleeping).
    pub sleep: fn(Duration),
}

impl Default for WriteRetry {
    /// 3 executions, 3 pending waits, waits of at most 10 s, 5.5 s after a 5xx,
    /// 1 s after a transport error; 429s and 503s are waited out here.
    fn default() -> Self {
        WriteRetry {
            attempts: 3,
            pending_waits: 3,
            max_wait: Duration::from_secs(10),
            failure_backoff: Duration::from_millis(5_500),
            transport_pause: Duration::from_secs(1),
            defer_congestion: false,
            sleep: thread::sleep,
        }
    }
}

impl fmt::Debug for WriteRetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteRetry")
            .field("attempts", &self.attempts)
            .field("pending_waits", &self.pending_waits)
            .field("max_wait", &self.max_wait)
            .field("failure_backoff", &self.failure_backoff)
            .field("transport_pause", &self.transport_pause)
            .field("defer_congestion", &self.defer_congestion)
            .finish_non_exhaustive()
    }
}

/// The wait before retrying after `err`, or `None` when `err` is final (or its
/// `Retry-After` is beyond `max_wait`). `pending` tells whether the host did not run
/// the write (an idempotency 409).
fn wait_for(policy: &WriteRetry, err: &HostError) -> Option<(Duration, bool)> {
    let congestion = matches!(
        err,
        HostError::RateLimited { .. } | HostError::Host { status: 503, .. }
    );
    if congestion && policy.defer_congestion {
        return None;
    }
    let wait = match err {
        HostError::IdempotencyPending { retry_after, .. } => {
            let secs = retry_after.unwrap_or(Duration::from_secs(1));
            return Some(((secs + Duration::from_secs(1)).min(policy.max_wait), true));
        }
        // A 429 without `Retry-After` (e.g. `API_KEY_RATE_LIMITED`, which lasts
        // hours) says nothing about when to come back: final.
        HostError::RateLimited { retry_after, .. } => match retry_after {
            Some(wait) if *wait <= policy.max_wait => *wait,
            _ => return None,
        },
        HostError::Transport(_) => policy.transport_pause,
        HostError::Host { status, .. } if *status >= 500 => policy.failure_backoff,
        _ => return None,
    };
    Some((wait.min(policy.max_wait), false))
}

/// Runs `write` (which must send the same `Idempotency-Key` every time) and retries
/// it under `policy` while the failure may be transient. Returns the last error once
/// the attempts are spent; a refusal (4xx other than the idempotency 409s, and a 429
/// without a short `Retry-After`) is returned at once, and so are a 429 and a 503
/// under [`WriteRetry::defer_congestion`].
pub fn retry_write<T>(
    policy: &WriteRetry,
    mut write: impl FnMut() -> Result<T, HostError>,
) -> Result<T, HostError> {
    let mut executions = 0u32;
    let mut pending = 0u32;
    loop {
        let err = match write() {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let Some((wait, was_pending)) = wait_for(policy, &err) else {
            return Err(err);
        };
        if was_pending {
            pending += 1;
            if pending > policy.pending_waits {
                return Err(err);
            }
        } else {
            executions += 1;
            if executions >= policy.attempts.max(1) {
                return Err(err);
            }
        }
        tracing::info!(
            error = %err,
            wait_ms = wait.as_millis() as u64,
            "host write failed; retrying with the same Idempotency-Key"
        );
        (policy.sleep)(wait);
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    use super::*;
    use crate::error::ErrorDetail;

    thread_local! {
        static SLEPT: RefCell<Vec<Duration>> = const { RefCell::new(Vec::new()) };
    }

    fn record(d: Duration) {
        SLEPT.with(|s| s.borrow_mut().push(d));
    }

    fn slept() -> Vec<Duration> {
        SLEPT.with(|s| std::mem::take(&mut *s.borrow_mut()))
    }

    fn policy() -> WriteRetry {
        WriteRetry {
            sleep: record,
            ..WriteRetry::default()
        }
    }

    fn host(status: u16) -> HostError {
        HostError::Host {
            status,
            code: None,
            message: "internal error".into(),
            metadata: BTreeMap::new(),
        }
    }

    fn pending(secs: u64) -> HostError {
        HostError::IdempotencyPending {
            retry_after: Some(Duration::from_secs(secs)),
            detail: Box::new(ErrorDetail {
                status: 409,
                code: Some("IDEMPOTENCY_RETRY_BACKOFF".into()),
                ..ErrorDetail::default()
            }),
        }
    }

    #[test]
    fn a_500_waits_out_the_hosts_backoff_then_succeeds() {
        let mut answers = vec![Err(host(500)), Ok(7)].into_iter();
        assert_eq!(retry_write(&policy(), || answers.next().unwrap()), Ok(7));
        assert_eq!(slept(), vec![Duration::from_millis(5_500)]);
    }

    #[test]
    fn pending_answers_wait_retry_after_plus_one_bounded() {
        let mut answers = vec![Err(pending(4)), Err(pending(29)), Ok(1)].into_iter();
        assert_eq!(retry_write(&policy(), || answers.next().unwrap()), Ok(1));
        assert_eq!(
            slept(),
            vec![Duration::from_secs(5), Duration::from_secs(10)]
        );
    }

    #[test]
    fn attempts_and_pending_waits_are_bounded() {
        let mut calls = 0;
        let r: Result<(), _> = retry_write(&policy(), || {
            calls += 1;
            Err(host(503))
        });
        assert_eq!(r, Err(host(503)));
        assert_eq!(calls, 3);
        assert_eq!(slept().len(), 2);

        let mut calls = 0;
        let r: Result<(), _> = retry_write(&policy(), || {
            calls += 1;
            Err(pending(1))
        });
        assert!(matches!(r, Err(HostError::IdempotencyPending { .. })));
        assert_eq!(calls, 4);
        slept();
    }

    #[test]
    fn deferred_congestion_is_given_back_at_once() {
        let deferring = WriteRetry {
            defer_congestion: true,
            ..policy()
        };
        let short = HostError::RateLimited {
            retry_after: Some(Duration::from_secs(1)),
            detail: ErrorDetail::default(),
        };
        for err in [short, host(503)] {
            let mut calls = 0;
            let r: Result<(), _> = retry_write(&deferring, || {
                calls += 1;
                Err(err.clone())
            });
            assert_eq!((r, calls), (Err(err), 1));
        }
        assert!(slept().is_empty());
        // Other transient failures are still retried here.
        let mut answers = vec![Err(host(500)), Ok(3)].into_iter();
        assert_eq!(retry_write(&deferring, || answers.next().unwrap()), Ok(3));
        assert_eq!(slept(), vec![Duration::from_millis(5_500)]);
    }

    #[test]
    fn refusals_and_long_rate_limits_are_final() {
        let conflict = HostError::Conflict(ErrorDetail {
            status: 409,
            code: Some("API_KEY_EXISTS".into()),
            ..ErrorDetail::default()
        });
        let mut calls = 0;
        let r: Result<(), _> = retry_write(&policy(), || {
            calls += 1;
            Err(conflict.clone())
        });
        assert_eq!((r, calls), (Err(conflict), 1));
        let long = HostError::RateLimited {
            retry_after: Some(Duration::from_secs(60)),
            detail: ErrorDetail::default(),
        };
        let r: Result<(), _> = retry_write(&policy(), || Err(long.clone()));
        assert_eq!(r, Err(long));
        let locked = HostError::RateLimited {
            retry_after: None,
            detail: ErrorDetail::default(),
        };
        let mut calls = 0;
        let r: Result<(), _> = retry_write(&policy(), || {
            calls += 1;
            Err(locked.clone())
        });
        assert_eq!((r, calls), (Err(locked), 1));
        assert!(slept().is_empty());
    }
}
