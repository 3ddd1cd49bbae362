//! The listener's limits as flags and environment variables: header and body
//! timeouts, the connection cap, the throttling of failed token checks and the
//! trusted reverse proxies (see `relay_api::listener` for what each one does).

use anyhow::{bail, Context, Result};
use clap::Args;
use relay_api::listener::{DEFAULT_AUTH_FAILURES, DEFAULT_MAX_CONNECTIONS};
use relay_api::Limits;
use relay_app::parse_interval;
use std::net::IpAddr;
use std::time::Duration;

/// Longest accepted value of a timeout.
const MAX_TIMEOUT: Duration = Duration::from_secs(3600);
/// File descriptors kept for the store, the runtime and host calls besides connections.
const FD_RESERVE: u64 = 64;

/// The listener's settings.
#[derive(Debug, Args)]
pub struct ListenerArgs {
    /// Time to receive a request head (`10s`, `500ms`, `1m`); also how long an idle
    /// keep-alive connection is kept. A client cut off mid-head gets `408`.
    #[arg(long, env = "RELAY_HEADER_TIMEOUT", default_value = "10s")]
    header_timeout: String,
    /// Time to receive a whole request body (`408` after it); also the longest a
    /// response write may stall because the client does not read.
    #[arg(long, env = "RELAY_BODY_TIMEOUT", default_value = "30s")]
    body_timeout: String,
    /// Connections served at once; more wait in the listen backlog until a slot frees.
    #[arg(long, env = "RELAY_MAX_CONNECTIONS", default_value_t = DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Failed operator-token checks from one client address, within
    /// RELAY_AUTH_LOCKOUT, after which it is answered `429` (`0` turns it off).
    #[arg(long, env = "RELAY_AUTH_FAILURES", default_value_t = DEFAULT_AUTH_FAILURES)]
    auth_failures: u32,
    /// How long such an address is answered `429` (`60s`, `5m`).
    #[arg(long, env = "RELAY_AUTH_LOCKOUT", default_value = "60s")]
    auth_lockout: String,
    /// Comma-separated addresses of reverse proxies whose `X-Forwarded-For` (its
    /// last entry) is taken as the client address, e.g. `127.0.0.1,::1`.
    #[arg(long, env = "RELAY_TRUSTED_PROXIES", default_value = "")]
    trusted_proxies: String,
}

fn timeout(value: &str, flag: &str) -> Result<Duration> {
    let d = parse_interval(value).map_err(|e| anyhow::anyhow!("{flag}: {e}"))?;
    if d.is_zero() || d > MAX_TIMEOUT {
        bail!("{flag}: must be between 1ms and 1h, got `{value}`");
    }
    Ok(d)
}

impl ListenerArgs {
    /// The limits, checked.
    pub fn limits(&self) -> Result<Limits> {
        if self.max_connections == 0 {
            bail!("--max-connections (RELAY_MAX_CONNECTIONS) must be at least 1");
        }
        Ok(Limits {
            header_timeout: timeout(
                &self.header_timeout,
                "--header-timeout (RELAY_HEADER_TIMEOUT)",
            )?,
            body_timeout: timeout(&self.body_timeout, "--body-timeout (RELAY_BODY_TIMEOUT)")?,
            max_connections: self.max_connections,
            auth_failures: self.auth_failures,
            auth_lockout: timeout(&self.auth_lockout, "--auth-lockout (RELAY_AUTH_LOCKOUT)")?,
        })
    }

    /// The trusted proxies, parsed.
    pub fn trusted_proxies(&self) -> Result<Vec<IpAddr>> {
        self.trusted_proxies
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpAddr>().with_context(|| {
                    format!("--trusted-proxies (RELAY_TRUSTED_PROXIES): `{s}` is not an IP address")
                })
            })
            .collect()
    }
}

/// The soft limit on open files, from `/proc/self/limits` (Linux); `None` elsewhere
/// or when it is unlimited.
fn open_files_soft_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Warns when the connection cap does not fit in the process's file descriptors:
/// the accept loop would then meet `EMFILE` (and back off) before the cap.
pub fn check_fd_limit(max_connections: usize) {
    if let Some(soft) = open_files_soft_limit() {
        let wanted = max_connections as u64 + FD_RESERVE;
        if wanted > soft {
            tracing::warn!(
                max_connections,
                open_files_limit = soft,
                "RELAY_MAX_CONNECTIONS does not fit in the open-files limit: raise it \
                 (systemd LimitNOFILE=, ulimit -n) to at least {wanted}, or lower the cap"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        listener: ListenerArgs,
    }

    fn parse(args: &[&str]) -> ListenerArgs {
        let mut all = vec!["relay-server"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).unwrap().listener
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let l = parse(&[]);
        assert_eq!(l.limits().unwrap(), Limits::default());
        assert_eq!(Limits::default().header_timeout, Duration::from_secs(10));
        assert_eq!(Limits::default().body_timeout, Duration::from_secs(30));
        assert_eq!(Limits::default().max_connections, 256);
        assert_eq!(Limits::default().auth_failures, 10);
        assert_eq!(Limits::default().auth_lockout, Duration::from_secs(60));
        assert!(l.trusted_proxies().unwrap().is_empty());
    }

    #[test]
    fn values_are_parsed_and_checked() {
        let l = parse(&[
            "--header-timeout",
            "500ms",
            "--body-timeout",
            "2m",
            "--max-connections",
            "32",
            "--auth-failures",
            "0",
            "--trusted-proxies",
            " 127.0.0.1, ::1 ",
        ]);
        let limits = l.limits().unwrap();
        assert_eq!(limits.header_timeout, Duration::from_millis(500));
        assert_eq!(limits.body_timeout, Duration::from_secs(120));
        assert_eq!(limits.max_connections, 32);
        assert_eq!(limits.auth_failures, 0);
        assert_eq!(
            l.trusted_proxies().unwrap(),
            vec![
                "127.0.0.1".parse::<IpAddr>().unwrap(),
                "::1".parse().unwrap()
            ]
        );
        for (args, needle) in [
            (&["--header-timeout", "0"][..], "RELAY_HEADER_TIMEOUT"),
            (&["--body-timeout", "2h"][..], "RELAY_BODY_TIMEOUT"),
            (&["--auth-lockout", "soon"][..], "RELAY_AUTH_LOCKOUT"),
            (&["--max-connections", "0"][..], "RELAY_MAX_CONNECTIONS"),
        ] {
            let err = parse(args).limits().unwrap_err().to_string();
            assert!(err.contains(needle), "{args:?}: {err}");
        }
        let err = parse(&["--trusted-proxies", "10.0.0.0/8"])
            .trusted_proxies()
            .unwrap_err()
            .to_string();
        assert!(err.contains("RELAY_TRUSTED_PROXIES"), "{err}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_open_files_limit_is_read() {
        let soft = open_files_soft_limit();
        // /proc/self/limits always has the line; "unlimited" is the only non-number.
        let text = std::fs::read_to_string("/proc/self/limits").unwrap();
        if !text.contains("Max open files            unlimited") {
            assert!(soft.is_some_and(|n| n > 0), "{text}");
        }
    }
}
