//! `cargo xtask bench`: import throughput and server memory against a slow host.
//!
//! For each size N (default 1, 100, 1000), a fresh mock host with
//! `--admin-latency-ms 50 --account-test-latency-ms 300` and a fresh release
//! server (default import concurrency) import N generated fake keys in one batch.
//! Printed per size: wall time of the import, the server's peak RSS (`VmHWM` of
//! `/proc/<pid>/status` after the run) and the ratio of the wall time to the lower
//! bound `ceil(N / concurrency) × per-key host time + fixed host time`. Both host
//! times come from the mock's `counters.by_route` after the run: calls on
//! account-scoped routes (`POST /accounts`, `/accounts/:id/…`) are per-key work,
//! every other admin call is fixed work, and each call costs the admin latency
//! (plus the test latency for account tests). The bench reports whether the aims
//! (ratio < 1.3 at 1,000 keys, RSS < 100 MiB) are met, but does not fail on them.

use crate::http::Client;
use crate::procs::{self, MockSettings, Profile, ServerSettings};
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const ADMIN_LATENCY_MS: u64 = 50;
const TEST_LATENCY_MS: u64 = 300;
const CONCURRENCY: u64 = 8;
const TOKEN: &str = "bench-operator-token-3e8c51d0a9f47b26";
const PROVIDER: &str = "deepseek";
const TEST_ROUTE: &str = "POST /api/v1/admin/accounts/:id/test";
const AIM_RATIO: f64 = 1.3;
const AIM_RSS_MIB: f64 = 100.0;

/// Figures of one size.
#[derive(Debug, Clone)]
struct Figures {
    n: u64,
    wall: Duration,
    rss_kib: Option<u64>,
    per_key_ms: f64,
    fixed_ms: f64,
    per_key_calls: BTreeMap<String, f64>,
    fixed_calls: u64,
    status: String,
}

impl Figures {
    fn bound_ms(&self, fixed_ms: f64) -> f64 {
        self.n.div_ceil(CONCURRENCY) as f64 * self.per_key_ms + fixed_ms
    }

    fn ratio(&self) -> f64 {
        self.wall.as_secs_f64() * 1000.0 / self.bound_ms(self.fixed_ms)
    }
}

/// Runs the bench for the sizes in `--sizes` (default 1,100,1000).
pub fn run(args: &[String]) -> Result<()> {
    let mut sizes: Vec<u64> = vec![1, 100, 1000];
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--sizes" => {
                let list = it.next().context("--sizes needs a list, e.g. 1,100,1000")?;
                sizes = list
                    .split(',')
                    .map(|s| s.trim().parse::<u64>())
                    .collect::<Result<_, _>>()
                    .with_context(|| format!("--sizes {list}: not a list of numbers"))?;
                if sizes.contains(&0) {
                    bail!("--sizes: sizes must be at least 1");
                }
            }
            other => bail!("bench: unknown argument {other}"),
        }
    }
    let bin = procs::build_binaries(Profile::Release)?;
    let out = procs::target_dir().join("bench");
    let mut all = Vec::new();
    for &n in &sizes {
        eprintln!("==> bench: importing {n} key(s)");
        let f = bench_size(&bin, &out, n).with_context(|| format!("bench of {n} key(s)"))?;
        all.push(f);
    }

    let one_key_fixed = all
        .iter()
        .find(|f| f.n == 1)
        .map(|f| f.wall.as_secs_f64() * 1000.0 - f.per_key_ms);
    println!();
    println!(
        "host: admin latency {ADMIN_LATENCY_MS} ms, account test latency {TEST_LATENCY_MS} ms; import concurrency {CONCURRENCY}"
    );
    println!(
        "{:>6}  {:>9}  {:>10}  {:>12}  {:>10}  {:>10}  {:>6}  status",
        "keys", "wall s", "server RSS", "per-key ms", "fixed ms", "bound s", "ratio"
    );
    for f in &all {
        println!(
            "{:>6}  {:>9.2}  {:>10}  {:>12.0}  {:>10.0}  {:>10.2}  {:>6.2}  {}",
            f.n,
            f.wall.as_secs_f64(),
            f.rss_kib
                .map(|k| format!("{:.1} MiB", k as f64 / 1024.0))
                .unwrap_or_else(|| "n/a".into()),
            f.per_key_ms,
            f.fixed_ms,
            f.bound_ms(f.fixed_ms) / 1000.0,
            f.ratio(),
            f.status,
        );
    }
    println!();
    for f in &all {
        let calls: Vec<String> = f
            .per_key_calls
            .iter()
            .map(|(r, c)| format!("{r} ×{c:.2}"))
            .collect();
        println!(
            "{} key(s): per key {}; {} fixed admin call(s)",
            f.n,
            calls.join(", "),
            f.fixed_calls
        );
    }
    if let Some(fixed) = one_key_fixed {
        println!("fixed time measured as the 1-key import minus one per-key time: {fixed:.0} ms");
        for f in all.iter().filter(|f| f.n > 1) {
            println!(
                "  ratio at {} keys with that fixed time: {:.2}",
                f.n,
                f.wall.as_secs_f64() * 1000.0 / f.bound_ms(fixed)
            );
        }
    }
    println!();
    match all.iter().find(|f| f.n == 1000) {
        Some(f) => {
            let r = f.ratio();
            println!(
                "aim ratio < {AIM_RATIO} at 1000 keys: {} ({r:.2})",
                if r < AIM_RATIO { "met" } else { "NOT met" }
            );
        }
        None => println!("aim ratio < {AIM_RATIO} at 1000 keys: not measured (no 1000-key run)"),
    }
    let peak = all.iter().filter_map(|f| f.rss_kib).max();
    match peak {
        Some(k) => {
            let mib = k as f64 / 1024.0;
            println!(
                "aim server RSS < {AIM_RSS_MIB} MiB: {} (peak {mib:.1} MiB)",
                if mib < AIM_RSS_MIB { "met" } else { "NOT met" }
            );
        }
        None => println!("aim server RSS < {AIM_RSS_MIB} MiB: not measured (no /proc)"),
    }
    let doc: Vec<Value> = all
        .iter()
        .map(|f| {
            json!({
                "keys": f.n, "wall_ms": f.wall.as_millis() as u64, "server_vm_hwm_kib": f.rss_kib,
                "per_key_ms": f.per_key_ms, "fixed_ms": f.fixed_ms, "bound_ms": f.bound_ms(f.fixed_ms),
                "ratio": f.ratio(), "per_key_calls": f.per_key_calls, "fixed_calls": f.fixed_calls,
                "batch_status": f.status,
            })
        })
        .collect();
    let path = out.join("bench.json");
    std::fs::write(
        &path,
        serde_json::to_vec_pretty(&json!({
            "admin_latency_ms": ADMIN_LATENCY_MS, "account_test_latency_ms": TEST_LATENCY_MS,
            "concurrency": CONCURRENCY, "sizes": doc,
        }))?,
    )?;
    println!("figures: {}", path.display());
    Ok(())
}

/// A fake upstream key, unique per index, that the mock's vendors accept.
fn fake_key(n: u64, i: u64) -> String {
    let mut x = (n << 32 | i).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5DEE_CE66_D1CE_4E5B;
    let mut hex = String::new();
    for _ in 0..2 {
        x ^= x >> 29;
        x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        hex.push_str(&format!("{x:016x}"));
    }
    format!("sk-bench-{i:05}-{hex}")
}

fn by_route(state: &Value) -> BTreeMap<String, u64> {
    state
        .pointer("/counters/by_route")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default()
}

/// Peak resident set size of a process (`VmHWM`, KiB).
fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

fn is_per_key_route(route: &str) -> bool {
    route == "POST /api/v1/admin/accounts" || route.contains("/api/v1/admin/accounts/:id")
}

fn bench_size(bin: &std::path::Path, out: &std::path::Path, n: u64) -> Result<Figures> {
    let dir = out.join(format!("n{n}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let mock_settings = MockSettings {
        flags: vec![
            "--admin-latency-ms".into(),
            ADMIN_LATENCY_MS.to_string(),
            "--account-test-latency-ms".into(),
            TEST_LATENCY_MS.to_string(),
        ],
        ..MockSettings::default()
    };
    let mock = procs::start_mock(bin, &mock_settings, &dir.join("mock.log"))?;
    let server = procs::start_server(
        bin,
        &ServerSettings {
            data_dir: dir.join("data"),
            token: TOKEN.into(),
            env: vec![
                ("RELAY_LOG".into(), "warn".into()),
                // The bundled pack is installed by its path in the repository.
                (
                    "RELAY_PACKS_DIR".into(),
                    procs::root().display().to_string(),
                ),
            ],
        },
        &dir.join("server.log"),
    )?;
    let api = Client::new(&server.base_url, Some(TOKEN));
    let mock_api = Client::new(&mock.base_url, None);
    let r = api.post(
        "/api/hosts",
        &json!({"name": "bench", "base_url": mock.base_url,
                "auth": {"kind": "api_key", "api_key": mock_settings.admin_api_key}}),
    )?;
    if r.status != 201 {
        bail!("host registration answered {}: {}", r.status, r.body);
    }
    let pack = procs::root().join("packs/openai-cn-pack");
    let r = api.post(
        "/api/packs/install",
        &json!({"path": pack.display().to_string()}),
    )?;
    if r.status != 201 {
        bail!("pack install answered {}: {}", r.status, r.body);
    }
    let before = by_route(&mock_api.get("/__mock/state")?.body);
    let keys: Vec<String> = (0..n).map(|i| fake_key(n, i)).collect();
    let t = Instant::now();
    let r = api.post(
        &format!("/api/providers/{PROVIDER}/import"),
        &json!({"host_id": "bench", "keys": keys, "wait": true}),
    )?;
    let wall = t.elapsed();
    let rss_kib = vm_hwm_kib(server.child.id());
    if r.status != 200 {
        bail!(
            "import answered {}: {}",
            r.status,
            r.body.pointer("/error").unwrap_or(&Value::Null)
        );
    }
    let status = r
        .body
        .pointer("/batch/status")
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_string();
    let passed = r
        .body
        .pointer("/batch/counts/passed")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let concurrency = r
        .body
        .pointer("/batch/request/concurrency")
        .and_then(Value::as_u64);
    if concurrency != Some(CONCURRENCY) {
        bail!("the server ran the import with concurrency {concurrency:?}, not {CONCURRENCY}");
    }
    if status != "succeeded" || passed != n {
        bail!("the import ended {status} with {passed} of {n} keys passed");
    }
    let after = by_route(&mock_api.get("/__mock/state")?.body);
    let mut per_key_calls = BTreeMap::new();
    let (mut per_key_ms, mut fixed_calls) = (0.0, 0u64);
    for (route, count) in &after {
        let c = count - before.get(route).copied().unwrap_or(0);
        if c == 0 {
            continue;
        }
        if is_per_key_route(route) {
            let per = c as f64 / n as f64;
            let cost = ADMIN_LATENCY_MS
                + if route == TEST_ROUTE {
                    TEST_LATENCY_MS
                } else {
                    0
                };
            per_key_ms += per * cost as f64;
            per_key_calls.insert(route.replace(" /api/v1/admin", " "), per);
        } else {
            fixed_calls += c;
        }
    }
    drop(server);
    drop(mock);
    Ok(Figures {
        n,
        wall,
        rss_kib,
        per_key_ms,
        fixed_ms: (fixed_calls * ADMIN_LATENCY_MS) as f64,
        per_key_calls,
        fixed_calls,
        status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fake_keys_are_unique_and_plain() {
        let keys: std::collections::BTreeSet<String> =
            (0..1000).map(|i| fake_key(1000, i)).collect();
        assert_eq!(keys.len(), 1000);
        for k in &keys {
            for word in ["invalid", "quota", "ratelimit", "slow"] {
                assert!(!k.contains(word));
            }
        }
    }

    #[test]
    fn routes_are_split_into_per_key_and_fixed() {
        assert!(is_per_key_route("POST /api/v1/admin/accounts"));
        assert!(is_per_key_route(TEST_ROUTE));
        assert!(is_per_key_route("GET /api/v1/admin/accounts/:id/models"));
        assert!(!is_per_key_route("GET /api/v1/admin/accounts"));
        assert!(!is_per_key_route("POST /api/v1/admin/groups"));
        let f = Figures {
            n: 100,
            wall: Duration::from_millis(13_000),
            rss_kib: None,
            per_key_ms: 450.0,
            fixed_ms: 1000.0,
            per_key_calls: BTreeMap::new(),
            fixed_calls: 20,
            status: "succeeded".into(),
        };
        // ceil(100/8) = 13 rounds of 450 ms + 1 s.
        assert!((f.bound_ms(f.fixed_ms) - 6850.0).abs() < 1e-9);
        assert!((f.ratio() - 13_000.0 / 6850.0).abs() < 1e-9);
    }
}
