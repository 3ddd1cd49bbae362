//! `cargo xtask fuzz [--minutes N]`: the fuzz targets (property tests named `fuzz::…` in
//! relay-pack, relay-sub2api, relay-upstream and relay-domain) run for a time budget, split evenly across
//! the targets. Each target is run again and again with a fresh random seed
//! (`RELAY_FUZZ_SEED`) and a growing number of cases per property (`RELAY_FUZZ_CASES`)
//! until its share of the budget is spent; the cases run are printed per target. The
//! first failure stops everything: proptest's output (the minimal failing input) and the
//! seed are printed, and proptest keeps the case in the test's `.proptest-regressions`
//! file. A run that outlives its share by far is killed and reported as a hang.
//!
//! An ordinary `cargo test` runs the same targets with a small default number of cases.

use anyhow::{anyhow, bail, Context, Result};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::procs::{root, target_dir};

/// One fuzz target: the test binary and the name filter that select its properties.
struct Target {
    name: &'static str,
    package: &'static str,
    /// `--lib` or `--test tests`.
    binary: &'static [&'static str],
    filter: &'static str,
}

const TARGETS: &[Target] = &[
    Target {
        name: "pack manifest + zip reader",
        package: "relay-pack",
        binary: &["--test", "tests"],
        filter: "fuzz::",
    },
    Target {
        name: "SSE parsers",
        package: "relay-sub2api",
        binary: &["--lib"],
        filter: "fuzz::sse::",
    },
    Target {
        name: "host envelope and error bodies",
        package: "relay-sub2api",
        binary: &["--lib"],
        filter: "fuzz::envelope::",
    },
    Target {
        name: "vendor probe readers (SSE first event, answer classes)",
        package: "relay-upstream",
        binary: &["--lib"],
        filter: "fuzz::",
    },
    Target {
        name: "key normaliser + batch-import parser",
        package: "relay-domain",
        binary: &["--test", "tests"],
        filter: "fuzz::",
    },
];

/// Cases per property of a target's first run; later runs grow while they are quick.
const FIRST_CASES: u64 = 500;
/// Most cases per property of one run (a failure is then found within one run's time).
const MAX_CASES: u64 = 200_000;
/// Plain regression tests (`regression_…`) are left out of the timed runs.
const SKIP: &str = "regression_";

/// Runs the targets for `--minutes N` (default 10) in all.
pub fn run(args: &[String]) -> Result<()> {
    let minutes = parse_minutes(args)?;
    let budget = Duration::from_secs_f64(minutes * 60.0);
    let share = budget / TARGETS.len() as u32;
    eprintln!(
        "==> fuzz: {minutes} minute(s), {:.0}s per target, {} targets",
        share.as_secs_f64(),
        TARGETS.len()
    );
    // Built one package at a time, as the runs are: built together, the packages would
    // unify features differently and each run would rebuild.
    for t in TARGETS {
        let mut build = vec!["test", "--locked", "--no-run", "-p", t.package];
        build.extend(t.binary);
        crate::procs::cargo(&build)?;
    }
    let logs = target_dir().join("fuzz");
    std::fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;
    let mut summary = Vec::new();
    for (i, target) in TARGETS.iter().enumerate() {
        let log = logs.join(format!("target-{i}.log"));
        let (runs, cases) = fuzz_target(target, share, &log)?;
        summary.push(format!("{}: {cases} cases in {runs} run(s)", target.name));
    }
    eprintln!("==> fuzz: no failure");
    for line in summary {
        eprintln!("    {line}");
    }
    Ok(())
}

fn parse_minutes(args: &[String]) -> Result<f64> {
    let mut minutes = 10.0;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--minutes" => {
                let value = rest
                    .next()
                    .ok_or_else(|| anyhow!("--minutes needs a value"))?;
                minutes = value
                    .parse::<f64>()
                    .ok()
                    .filter(|m| m.is_finite() && *m > 0.0)
                    .ok_or_else(|| anyhow!("--minutes {value}: not a positive number"))?;
            }
            other => {
                bail!("fuzz: unknown argument `{other}` (usage: cargo xtask fuzz [--minutes N])")
            }
        }
    }
    Ok(minutes)
}

/// Runs one target until `share` is spent; returns the runs and the cases run.
fn fuzz_target(target: &Target, share: Duration, log: &Path) -> Result<(u64, u64)> {
    let started = Instant::now();
    let mut cases_per_property = FIRST_CASES;
    let (mut runs, mut cases) = (0u64, 0u64);
    loop {
        let seed = random_seed()?;
        let t = Instant::now();
        // Killed as a hang when it outlives the whole share (and at least two minutes).
        let limit = share.max(Duration::from_secs(120));
        let properties = run_once(target, cases_per_property, seed, limit, log)?;
        let took = t.elapsed();
        runs += 1;
        cases += properties * cases_per_property;
        eprintln!(
            "    {}: run {runs}, seed {seed}, {properties} properties × {cases_per_property} cases in {:.1}s",
            target.name,
            took.as_secs_f64()
        );
        let left = share.saturating_sub(started.elapsed());
        if left.is_zero() {
            break;
        }
        // Grow the runs while one takes well under what is left.
        if took * 4 < left && cases_per_property < MAX_CASES {
            cases_per_property = (cases_per_property * 2).min(MAX_CASES);
        } else if took > left && cases_per_property > FIRST_CASES {
            cases_per_property = (cases_per_property / 2).max(FIRST_CASES);
        }
    }
    eprintln!(
        "==> fuzz {}: {cases} cases in {runs} run(s), {:.0}s",
        target.name,
        started.elapsed().as_secs_f64()
    );
    Ok((runs, cases))
}

/// One run of a target's properties; returns how many properties passed.
fn run_once(target: &Target, cases: u64, seed: u64, limit: Duration, log: &Path) -> Result<u64> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let out =
        std::fs::File::create(log).with_context(|| format!("cannot write {}", log.display()))?;
    let err = out.try_clone()?;
    let mut cmd = Command::new(cargo);
    cmd.args(["test", "--locked", "-p", target.package])
        .args(target.binary)
        .args([target.filter, "--", "--skip", SKIP])
        .env("RELAY_FUZZ_CASES", cases.to_string())
        .env("RELAY_FUZZ_SEED", seed.to_string())
        .current_dir(root())
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    let mut child = cmd.spawn().context("cannot start cargo test")?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "fuzz {}: a run (seed {seed}, {cases} cases) still ran after {:.0}s: a hang; output in {}",
                target.name,
                limit.as_secs_f64(),
                log.display()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let output = std::fs::read_to_string(log).unwrap_or_default();
    if !status.success() {
        eprintln!("{output}");
        bail!(
            "fuzz {}: a property failed (seed {seed}, {cases} cases per property); the minimal \
             failing input is printed above (\"minimal failing input\") and kept in the test's \
             .proptest-regressions file: add it as a regression test and fix the bug",
            target.name
        );
    }
    let passed: u64 = output
        .lines()
        .filter_map(|l| l.strip_prefix("test result: ok. "))
        .filter_map(|l| l.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    if passed == 0 {
        bail!(
            "fuzz {}: no property ran (filter `{}`); output in {}",
            target.name,
            target.filter,
            log.display()
        );
    }
    Ok(passed)
}

fn random_seed() -> Result<u64> {
    let mut bytes = [0u8; 8];
    getrandom::getrandom(&mut bytes).map_err(|e| anyhow!("no random seed: {e}"))?;
    Ok(u64::from_le_bytes(bytes))
}
