//! Project automation. Run as `cargo xtask <command>`.
//!
//! - `ci`: formatting check, clippy with warnings denied, every test of the
//!   workspace (SQLite), the store's, the use cases' and the server's tests again on PostgreSQL
//!   (`RELAY_TEST_DATABASE_URL`), the acceptance scenarios, the console browser
//!   test, then the live contract check.
//! - `console-test`: the web console in a real headless Chromium (WebDriver through
//!   chromedriver) against the mock host and the server (debug); screenshots in
//!   `target/console-shots/`.
//! - `contract [ST ARGS…]`: schemathesis runs `docs/openapi.yaml` against a
//!   throwaway mock host and server (debug) with every check; any failure fails.
//! - `demo [--debug]`: the main job end to end against the bundled mock host (release).
//! - `acceptance [NAME…]`: scenario fixtures against the real binaries (debug).
//! - `bench [--sizes 1,100,1000,3000,10000] [--latency none|slow|both] [--postgres]`: the server's
//!   CPU per key and peak RSS, and import wall time against its bound (release).
//! - `fuzz [--minutes N]`: the fuzz targets (pack reader, SSE parsers, host envelope and
//!   error bodies, key normaliser) for a time budget (default 10 minutes) with fresh seeds.
//! - `record-host --host-url URL …`: records a session of real exchanges with a
//!   fresh real host as a contract fixture (`fixtures/host/real/<version>/`).

mod acceptance;
mod bench;
mod console;
mod contract;
mod demo;
mod fuzz;
mod http;
mod procs;
mod record;
mod webdriver;

use anyhow::{bail, Result};
use procs::cargo;
use std::time::Instant;

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = args.first().map(String::as_str).unwrap_or("help");
    let rest = args.get(1..).unwrap_or_default();
    match command {
        "ci" => ci(),
        "demo" => demo::run(rest),
        "acceptance" => acceptance::run(rest),
        "contract" => contract::run(rest),
        "console-test" => console::run(rest),
        "bench" => bench::run(rest),
        "fuzz" => fuzz::run(rest),
        "record-host" => record::run(rest),
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown command `{other}`\n\n{USAGE}"),
    }
}

const USAGE: &str = "usage: cargo xtask <command>

commands:
  demo [--debug]        start the mock host and the server on loopback, register the host,
                        install the bundled pack, import demo keys, prove access, reconcile
  ci                    cargo fmt --check, cargo clippy -D warnings, every test of the
                        workspace, the relay-store, relay-app and relay-server tests again on
                        PostgreSQL when RELAY_TEST_DATABASE_URL is set, the
                        acceptance scenarios, `console-test` when
                        chromium is installed, then `contract` when schemathesis is
                        installed
  console-test          the web console in headless Chromium (chromedriver): sign in,
                        create a run from pasted lines, watch it end, open an item's
                        trail, retry; screenshots in target/console-shots/; skipped
                        when chromium/chromedriver are missing (an error under CI=true)
  contract [ST ARGS...] schemathesis (all checks, bounded examples, fixed seed) runs
                        docs/openapi.yaml against a throwaway mock host and server;
                        fails on any failure; skipped when `st` is not installed
  acceptance [NAME...]  run fixtures/scenarios/*.json (those whose name contains a NAME,
                        or all) against the real mock host and server; evidence in
                        target/acceptance/<scenario>.json; scenarios with
                        \"database\": \"postgres\" run their servers on a fresh schema of
                        RELAY_TEST_DATABASE_URL (skipped without it, an error under
                        CI=true unless RELAY_SKIP_POSTGRES_TESTS says why)
  bench [--sizes LIST] [--latency none|slow|both] [--host-limit N] [--postgres]
                        import 1, 100, 1000, 3000 and 10000 keys (or LIST, comma-separated):
                        latency none, the server's CPU per key and peak RSS; latency slow
                        (both: up to 1000 keys), wall time against the bound from the
                        minimum host calls; the scale aims met or not; target/bench/bench.json;
                        --postgres: the state in a schema of RELAY_TEST_DATABASE_URL
  fuzz [--minutes N]    the fuzz targets (pack manifest + zip reader, SSE parsers, host
                        envelope and error bodies, vendor probe readers, key normaliser +
                        batch-import parser)
                        for N minutes in all (default 10), fresh seeds each run; cases run
                        per target; stops at the first failure with its minimal input
  acceptance --host-url URL --admin-key-file FILE [--upstream-url URL] [NAME...]
                        the scenarios that need no mock knob, against a real host (the
                        others are listed as skipped, with the knob they need)
  record-host --host-url URL --admin-email EMAIL --admin-password-file FILE [...]
                        play fixtures/host/real/session.json against a fresh real host and
                        write the scrubbed exchanges to fixtures/host/real/<version>/";

/// The PostgreSQL database the store and use-case suites also run against.
const TEST_DATABASE_URL: &str = "RELAY_TEST_DATABASE_URL";

fn ci() -> Result<()> {
    let started = Instant::now();
    // Each step says how long it took, so a slow CI run shows where the time went.
    let timed = |name: &str, step: &mut dyn FnMut() -> Result<()>| -> Result<()> {
        let t = Instant::now();
        let result = step();
        eprintln!("==> {name} took {:.1}s", t.elapsed().as_secs_f64());
        result
    };
    // A toolchain without rustfmt or clippy (a component that cannot be installed
    // here) is reported and its check skipped; everything else still runs.
    let mut skipped = Vec::new();
    if procs::cargo_has("fmt") {
        timed("fmt", &mut || cargo(&["fmt", "--all", "--check"]))?;
    } else {
        eprintln!("==> SKIP cargo fmt --check: rustfmt is not installed for this toolchain");
        skipped.push("fmt");
    }
    if procs::cargo_has("clippy") {
        timed("clippy", &mut || {
            cargo(&[
                "clippy",
                "--workspace",
                "--all-targets",
                "--locked",
                "--",
                "-D",
                "warnings",
            ])
        })?;
    } else {
        eprintln!("==> SKIP cargo clippy: clippy is not installed for this toolchain");
        skipped.push("clippy");
    }
    // Every test on the embedded SQLite store, then the store's, the use cases' and
    // the server binary's suites again on PostgreSQL when `.ci/run` (or the caller)
    // provides one.
    let postgres = std::env::var(TEST_DATABASE_URL)
        .ok()
        .filter(|u| !u.is_empty());
    timed("tests", &mut || {
        procs::cargo_with(
            &["test", "--workspace", "--locked", "--no-fail-fast"],
            &[(TEST_DATABASE_URL, None)],
        )
    })?;
    match &postgres {
        Some(url) => timed("tests on PostgreSQL", &mut || {
            procs::cargo_with(
                &[
                    "test",
                    "--locked",
                    "--no-fail-fast",
                    "-p",
                    "relay-store",
                    "-p",
                    "relay-app",
                    "-p",
                    "relay-server",
                ],
                &[(TEST_DATABASE_URL, Some(url))],
            )
        })?,
        None => {
            let why = std::env::var("RELAY_SKIP_POSTGRES_TESTS").unwrap_or_else(|_| {
                format!(
                    "{TEST_DATABASE_URL} is not set (.ci/run sets it when it can start PostgreSQL)"
                )
            });
            eprintln!("==> SKIP tests on PostgreSQL: {why}");
            skipped.push("postgres");
        }
    }
    eprintln!("==> acceptance scenarios");
    timed("acceptance", &mut || acceptance::run(&[]))?;
    if console::available() {
        eprintln!("==> web console in headless Chromium");
        timed("console", &mut || console::run(&[]))?;
    } else {
        // Says why; fails under CI=true unless .ci/run could not install the browser.
        console::run(&[])?;
        skipped.push("console");
    }
    if contract::available() {
        eprintln!("==> live contract (schemathesis against docs/openapi.yaml)");
        timed("contract", &mut || contract::run(&[]))?;
    } else {
        eprintln!("==> SKIP live contract: schemathesis (`st`) is not installed");
        skipped.push("contract");
    }
    let total = started.elapsed().as_secs_f64();
    if skipped.is_empty() {
        eprintln!("==> ci: all checks passed in {total:.0}s");
    } else {
        eprintln!(
            "==> ci: all checks that could run passed in {total:.0}s (skipped for a missing component or tool: {})",
            skipped.join(", ")
        );
    }
    Ok(())
}
