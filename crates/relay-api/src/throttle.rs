//! Throttling of failed operator-token checks per client address.
//!
//! Every request to a token route (`/api/*`, and `/metrics` unless it is public) whose
//! token is missing or wrong counts as a failure of its client address. After
//! `max_failures` failures within `lockout`, the address is blocked for `lockout`: its
//! token routes answer `429 rate_limited` with `Retry-After` **without comparing the
//! token** (so a blocked address cannot keep guessing), until the block ends. A correct
//! token clears the address's count. Other addresses are not affected.
//!
//! Addresses are counted per IPv4 address and per IPv6 /64 (one host usually owns a
//! whole /64). The table is bounded: when it is full, expired entries are dropped first,
//! then the oldest ones.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hyper::HeaderMap;

/// Most client addresses tracked at once.
pub const MAX_TRACKED_ADDRESSES: usize = 10_000;

/// The key an address is counted under: IPv4 as is (also when IPv4-mapped), IPv6 by /64.
fn key_of(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    window_start: Instant,
    blocked_until: Option<Instant>,
}

impl Entry {
    fn expired(&self, now: Instant, lockout: Duration) -> bool {
        match self.blocked_until {
            Some(until) => now >= until,
            None => now.duration_since(self.window_start) >= lockout,
        }
    }
}

/// Per-address counter of failed token checks (see the module documentation).
#[derive(Debug)]
pub struct AuthThrottle {
    max_failures: u32,
    lockout: Duration,
    capacity: usize,
    entries: Mutex<HashMap<IpAddr, Entry>>,
}

impl AuthThrottle {
    /// A throttle that blocks an address for `lockout` after `max_failures` failed
    /// checks within `lockout`. `max_failures == 0` turns throttling off.
    pub fn new(max_failures: u32, lockout: Duration) -> Self {
        Self::with_capacity(max_failures, lockout, MAX_TRACKED_ADDRESSES)
    }

    /// Like [`AuthThrottle::new`] with a chosen table size (at least 1).
    pub fn with_capacity(max_failures: u32, lockout: Duration, capacity: usize) -> Self {
        AuthThrottle {
            max_failures,
            lockout,
            capacity: capacity.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn enabled(&self) -> bool {
        self.max_failures > 0 && !self.lockout.is_zero()
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Entry>> {
        // A panic while holding this lock cannot leave an entry half-written.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `Err(retry_after)` while `addr` is blocked; the token must then not be checked.
    pub fn check(&self, addr: IpAddr, now: Instant) -> Result<(), Duration> {
        if !self.enabled() {
            return Ok(());
        }
        let key = key_of(addr);
        let mut table = self.table();
        match table.get(&key).and_then(|e| e.blocked_until) {
            Some(until) if now < until => Err(until - now),
            Some(_) => {
                table.remove(&key);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Counts a failed check of `addr`; `Some(lockout)` when this failure blocked it.
    pub fn record_failure(&self, addr: IpAddr, now: Instant) -> Option<Duration> {
        if !self.enabled() {
            return None;
        }
        let key = key_of(addr);
        let mut table = self.table();
        if !table.contains_key(&key) && table.len() >= self.capacity {
            let lockout = self.lockout;
            table.retain(|_, e| !e.expired(now, lockout));
            if table.len() >= self.capacity {
                if let Some(oldest) = table
                    .iter()
                    .min_by_key(|(_, e)| e.window_start)
                    .map(|(k, _)| *k)
                {
                    table.remove(&oldest);
                }
            }
        }
        let entry = table.entry(key).or_insert(Entry {
            failures: 0,
            window_start: now,
            blocked_until: None,
        });
        if entry.expired(now, self.lockout) {
            *entry = Entry {
                failures: 0,
                window_start: now,
                blocked_until: None,
            };
        }
        if entry.blocked_until.is_some() {
            return None;
        }
        entry.failures += 1;
        if entry.failures >= self.max_failures {
            entry.blocked_until = Some(now + self.lockout);
            Some(self.lockout)
        } else {
            None
        }
    }

    /// A correct token from `addr`: forget its failures.
    pub fn record_success(&self, addr: IpAddr) {
        if !self.enabled() {
            return;
        }
        let key = key_of(addr);
        let mut table = self.table();
        if table.get(&key).is_some_and(|e| e.blocked_until.is_none()) {
            table.remove(&key);
        }
    }

    /// Addresses currently tracked (blocked or counting).
    pub fn tracked(&self) -> usize {
        self.table().len()
    }
}

/// True when `peer` is one of `trusted_proxies` (an IPv4-mapped IPv6 address counts
/// as its IPv4 address).
pub fn is_trusted_proxy(peer: IpAddr, trusted_proxies: &[IpAddr]) -> bool {
    let canonical = |a: IpAddr| match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(a),
        v4 => v4,
    };
    trusted_proxies
        .iter()
        .any(|p| canonical(*p) == canonical(peer))
}

/// The client address of a request: the peer's, or — when the peer is one of
/// `trusted_proxies` — the last address of its `X-Forwarded-For` (the one the proxy
/// itself saw; entries before it are the client's own claims). Falls back to the peer
/// when the header is missing or not an address.
pub fn client_addr(peer: SocketAddr, headers: &HeaderMap, trusted_proxies: &[IpAddr]) -> IpAddr {
    let ip = peer.ip();
    if !is_trusted_proxy(ip, trusted_proxies) {
        return ip;
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .next_back()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|last| last.trim().parse::<IpAddr>().ok())
        .unwrap_or(ip)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn blocks_after_the_limit_and_only_that_address() {
        let t = AuthThrottle::new(3, Duration::from_secs(60));
        let now = Instant::now();
        let a = ip("203.0.113.7");
        assert_eq!(t.record_failure(a, now), None);
        assert_eq!(t.record_failure(a, now), None);
        assert_eq!(t.check(a, now), Ok(()));
        assert_eq!(
            t.record_failure(a, now + Duration::from_secs(1)),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            t.check(a, now + Duration::from_secs(11)),
            Err(Duration::from_secs(50))
        );
        assert_eq!(t.check(ip("203.0.113.8"), now), Ok(()));
        // The block ends after the lockout; the count starts again.
        assert_eq!(t.check(a, now + Duration::from_secs(61)), Ok(()));
        assert_eq!(t.record_failure(a, now + Duration::from_secs(62)), None);
    }

    #[test]
    fn failures_outside_the_window_do_not_add_up() {
        let t = AuthThrottle::new(2, Duration::from_secs(10));
        let now = Instant::now();
        let a = ip("198.51.100.1");
        assert_eq!(t.record_failure(a, now), None);
        assert_eq!(t.record_failure(a, now + Duration::from_secs(11)), None);
        assert_eq!(
            t.record_failure(a, now + Duration::from_secs(12)),
            Some(Duration::from_secs(10))
        );
    }

    #[test]
    fn a_correct_token_clears_the_count_but_not_a_block() {
        let t = AuthThrottle::new(2, Duration::from_secs(60));
        let now = Instant::now();
        let a = ip("192.0.2.1");
        t.record_failure(a, now);
        t.record_success(a);
        assert_eq!(t.record_failure(a, now), None);
        assert!(t.record_failure(a, now).is_some());
        t.record_success(a);
        assert!(t.check(a, now).is_err());
    }

    #[test]
    fn ipv6_is_counted_per_64_and_mapped_ipv4_as_ipv4() {
        let t = AuthThrottle::new(2, Duration::from_secs(60));
        let now = Instant::now();
        t.record_failure(ip("2001:db8:1:2::1"), now);
        assert!(t.record_failure(ip("2001:db8:1:2::ffff"), now).is_some());
        assert!(t.check(ip("2001:db8:1:2:aaaa::1"), now).is_err());
        assert!(t.check(ip("2001:db8:1:3::1"), now).is_ok());
        t.record_failure(ip("::ffff:192.0.2.9"), now);
        assert!(t.record_failure(ip("192.0.2.9"), now).is_some());
    }

    #[test]
    fn the_table_stays_bounded() {
        let t = AuthThrottle::with_capacity(5, Duration::from_secs(60), 100);
        let now = Instant::now();
        for i in 0..1000u32 {
            let a = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            t.record_failure(a, now + Duration::from_millis(u64::from(i)));
        }
        assert!(t.tracked() <= 100, "{} tracked", t.tracked());
        // The newest address is still counted.
        let last = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + 999));
        for _ in 0..3 {
            t.record_failure(last, now + Duration::from_secs(2));
        }
        assert!(t
            .record_failure(last, now + Duration::from_secs(2))
            .is_some());
    }

    #[test]
    fn zero_failures_turns_it_off() {
        let t = AuthThrottle::new(0, Duration::from_secs(60));
        let now = Instant::now();
        for _ in 0..100 {
            assert_eq!(t.record_failure(ip("192.0.2.1"), now), None);
        }
        assert_eq!(t.check(ip("192.0.2.1"), now), Ok(()));
        assert_eq!(t.tracked(), 0);
    }

    #[test]
    fn forwarded_for_is_read_only_from_trusted_proxies() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("10.9.9.9, 203.0.113.5"),
        );
        let proxy: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let other: SocketAddr = "192.0.2.44:5000".parse().unwrap();
        assert_eq!(client_addr(proxy, &h, &[]), ip("127.0.0.1"));
        assert_eq!(
            client_addr(proxy, &h, &[ip("127.0.0.1")]),
            ip("203.0.113.5")
        );
        assert_eq!(client_addr(other, &h, &[ip("127.0.0.1")]), ip("192.0.2.44"));
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:5000".parse().unwrap();
        assert_eq!(
            client_addr(mapped, &h, &[ip("127.0.0.1")]),
            ip("203.0.113.5")
        );
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("not-an-address"),
        );
        assert_eq!(client_addr(proxy, &h, &[ip("127.0.0.1")]), ip("127.0.0.1"));
        assert_eq!(
            client_addr(proxy, &HeaderMap::new(), &[ip("127.0.0.1")]),
            ip("127.0.0.1")
        );
    }
}
