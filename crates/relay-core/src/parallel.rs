//! Bounded parallelism: one map over a slice with at most `concurrency` items in
//! flight, on scoped threads. Import, resume and reconcile test accounts with it.
//!
//! Workers share a queue (an atomic cursor) inside `std::thread::scope`; the
//! adapter and the ports are `Sync`, so the closure borrows them.
//!
//! The bound is the most items in flight; a flow whose items call the host takes a
//! [`crate::AdaptiveLimit`] permit per call inside `f`, so fewer calls run while the
//! host pushes back (429/503) and the workers wait out its `Retry-After`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;

/// Default number of items processed at once.
pub const DEFAULT_CONCURRENCY: usize = 8;

fn into_inner<T>(m: Mutex<T>) -> T {
    m.into_inner().unwrap_or_else(|p| p.into_inner())
}

/// Applies `f` to every item with at most `concurrency` (at least 1) calls in
/// flight; the results come back in the order of `items`.
pub fn map_bounded<T, R, F>(items: &[T], concurrency: usize, f: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync,
{
    match try_map_bounded(items, concurrency, |item| {
        Ok::<R, std::convert::Infallible>(f(item))
    }) {
        Ok(out) => out,
        Err(never) => match never {},
    }
}

/// Like [`map_bounded`], for a fallible `f`: the first error stops handing out
/// items (calls in flight finish) and is returned.
pub fn try_map_bounded<T, R, E, F>(items: &[T], concurrency: usize, f: F) -> Result<Vec<R>, E>
where
    T: Sync,
    R: Send,
    E: Send,
    F: Fn(&T) -> Result<R, E> + Sync,
{
    if items.is_empty() {
        return Ok(Vec::new());
    }
    let workers = concurrency.max(1).min(items.len());
    let cursor = AtomicUsize::new(0);
    let abort = AtomicBool::new(false);
    let results: Mutex<Vec<(usize, R)>> = Mutex::new(Vec::with_capacity(items.len()));
    let fatal: Mutex<Option<E>> = Mutex::new(None);
    thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                if abort.load(Ordering::SeqCst) {
                    break;
                }
                let i = cursor.fetch_add(1, Ordering::SeqCst);
                let Some(item) = items.get(i) else { break };
                match f(item) {
                    Ok(r) => results
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((i, r)),
                    Err(e) => {
                        abort.store(true, Ordering::SeqCst);
                        fatal
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .get_or_insert(e);
                        break;
                    }
                }
            });
        }
    });
    if let Some(e) = into_inner(fatal) {
        return Err(e);
    }
    let mut out = into_inner(results);
    out.sort_by_key(|(i, _)| *i);
    Ok(out.into_iter().map(|(_, r)| r).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn results_keep_the_input_order_and_the_bound_holds() {
        let in_flight = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let items: Vec<u64> = (0..20).collect();
        let out = map_bounded(&items, 3, |n| {
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            thread::sleep(Duration::from_millis(2));
            in_flight.fetch_sub(1, Ordering::SeqCst);
            n * 2
        });
        assert_eq!(out, items.iter().map(|n| n * 2).collect::<Vec<_>>());
        assert!(peak.load(Ordering::SeqCst) <= 3);
        assert!(map_bounded(&[] as &[u8], 4, |_| 0).is_empty());
        assert_eq!(map_bounded(&[1], 0, |n| n + 1), vec![2]);
    }

    #[test]
    fn the_first_error_stops_the_queue() {
        let calls = AtomicUsize::new(0);
        let items: Vec<u32> = (0..100).collect();
        let got = try_map_bounded(&items, 1, |n| {
            calls.fetch_add(1, Ordering::SeqCst);
            if *n == 5 {
                Err(format!("item {n}"))
            } else {
                Ok(*n)
            }
        });
        assert_eq!(got, Err("item 5".to_string()));
        assert_eq!(calls.load(Ordering::SeqCst), 6);
    }
}
