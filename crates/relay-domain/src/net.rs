//! Network facts the domain rules need (no I/O).

use std::net::IpAddr;

/// True for `localhost`, `127.0.0.0/8` and `::1` (also IPv4-mapped loopback);
/// `host` may carry IPv6 brackets. Plain `http://` is accepted only for such hosts,
/// where a key cannot leave the machine.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.is_loopback(),
        Ok(IpAddr::V6(v6)) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::is_loopback_host;

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "LOCALHOST",
            "127.0.0.1",
            "127.9.8.7",
            "::1",
            "[::1]",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "10.0.0.1",
            "api.deepseek.com",
            "localhost.example.com",
            "::",
            "0.0.0.0",
            "[::2]",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }
}
