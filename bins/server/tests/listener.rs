//! The real `relay-server` binary against hostile clients: its listener limits come
//! from the environment, and with its file descriptors exhausted the accept loop
//! backs off instead of spinning. Time bounds are generous and only catch hangs.

use crate::common::{agent, read, start_with, temp_dir, Server, TOKEN};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const HANG: Duration = Duration::from_secs(30);

fn addr(server: &Server) -> String {
    server.base.trim_start_matches("http://").to_string()
}

/// Waits until the server's log contains `needle`.
fn wait_for_log(server: &Server, needle: &str) {
    let deadline = Instant::now() + HANG;
    while !server.log().contains(needle) {
        assert!(
            Instant::now() < deadline,
            "no `{needle}` in the log:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_limits_come_from_the_environment() {
    let dir = temp_dir("listener-env");
    let server = start_with(
        &dir,
        Some(TOKEN),
        &[
            ("RELAY_HEADER_TIMEOUT", "1s"),
            ("RELAY_AUTH_FAILURES", "2"),
            ("RELAY_AUTH_LOCKOUT", "10m"),
            ("RELAY_RECONCILE_INTERVAL", "0"),
        ],
    );
    // A request head that never ends is cut off with a 408.
    let mut slow = TcpStream::connect(addr(&server)).unwrap();
    slow.set_read_timeout(Some(HANG)).unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let mut answer = String::new();
    slow.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
    assert!(answer.contains("\"request_timeout\""), "{answer}");

    // Two wrong tokens, then 429 with Retry-After.
    for _ in 0..2 {
        let resp = agent()
            .get(format!("{}/api/hosts", server.base))
            .header("Authorization", "Bearer wrong")
            .call()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 401);
    }
    let resp = agent()
        .get(format!("{}/api/hosts", server.base))
        .header("Authorization", format!("Bearer {TOKEN}"))
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=600).contains(&retry), "{retry}");
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let (_, v) = read(resp);
    assert_eq!(v["error"]["code"], "rate_limited");
    wait_for_log(&server, "too many failed operator-token checks");
    assert!(!server.log().contains(TOKEN));
}

#[test]
fn bad_limits_stop_the_start_with_the_variable_named() {
    let dir = temp_dir("listener-bad");
    for (var, value) in [
        ("RELAY_HEADER_TIMEOUT", "0"),
        ("RELAY_MAX_CONNECTIONS", "0"),
        ("RELAY_TRUSTED_PROXIES", "proxy.example"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_relay-server"))
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&dir)
            .env("RELAY_ADMIN_TOKEN", TOKEN)
            .env(var, value)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{var}={value} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(var), "{var}={value}: {err}");
    }
}

/// utime + stime of `pid`, in clock ticks.
#[cfg(target_os = "linux")]
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after `) `.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[cfg(target_os = "linux")]
fn clock_ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

#[cfg(target_os = "linux")]
#[test]
fn with_file_descriptors_exhausted_the_accept_loop_backs_off_and_recovers() {
    use std::io::{BufRead, BufReader};

    let dir = temp_dir("listener-emfile");
    let stderr_path = dir.join("server.log");
    let stderr = std::fs::File::create(&stderr_path).unwrap();
    // 64 open files, and a cap above it so that accept() meets EMFILE.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 64 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_relay-server"))
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&dir)
        .env("RELAY_ADMIN_TOKEN", TOKEN)
        .env_remove("RELAY_MASTER_KEY")
        .env("RELAY_MAX_CONNECTIONS", "1000")
        .env("RELAY_HEADER_TIMEOUT", "10m")
        .env("RELAY_RECONCILE_INTERVAL", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(stderr))
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("relay-server listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_string();
    let server = Server {
        base,
        child,
        stderr_path,
    };
    let pid = server.child.id();
    wait_for_log(&server, "does not fit in the open-files limit");

    // More idle connections than the server has descriptors for.
    let conns: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect(addr(&server)).unwrap())
        .collect();
    wait_for_log(&server, "accept failed; pausing before the next attempt");

    // While accept() keeps failing, the server sleeps: a loop retrying at once burns a
    // whole core (the review measured 117 %). Allow a third of one.
    let tck = clock_ticks_per_second();
    let before = cpu_ticks(pid);
    let window = Duration::from_secs(3);
    std::thread::sleep(window);
    let used = cpu_ticks(pid) - before;
    let allowed = tck * window.as_secs() / 3;
    assert!(
        used <= allowed,
        "the server used {used} ticks of CPU in {window:?} with accept() failing (allowed {allowed})"
    );

    // Once the clients go, descriptors free up and the server answers again.
    drop(conns);
    let started = Instant::now();
    let resp = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(HANG))
        .build()
        .new_agent()
        .get(format!("{}/healthz", server.base))
        .call()
        .expect("answered after the clients left");
    assert_eq!(resp.status().as_u16(), 200);
    assert!(started.elapsed() < HANG);
}
