//! `sub2api-mock` — run the sub2api host emulator as a standalone server.

use std::io::Write;
use std::net::SocketAddr;

use clap::Parser;
use sub2api_mock::{Faults, MockConfig, MockHost};

/// Stateful in-memory emulator of a sub2api host (development and tests only).
#[derive(Debug, Parser)]
#[command(name = "sub2api-mock", version)]
struct Cli {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// `host`: the emulated sub2api host (admin API, gateway, in-process vendors).
    /// `vendor`: only the simulated vendors, as an OpenAI-compatible upstream for the
    /// accounts of a real host (`/v1/models`, `/v1/chat/completions`, `/v1/responses`;
    /// behaviour by key pattern). Host flags are ignored in the vendor role.
    #[arg(long, value_enum, default_value = "host")]
    role: Role,
    /// Admin API key accepted in `x-api-key` (required in the host role).
    #[arg(
        long,
        env = "SUB2API_MOCK_ADMIN_API_KEY",
        required_if_eq("role", "host")
    )]
    admin_api_key: Option<String>,
    /// E-mail of the seeded admin user.
    #[arg(long, default_value = sub2api_mock::DEFAULT_ADMIN_EMAIL)]
    admin_email: String,
    /// Password of the seeded admin user.
    #[arg(long, default_value = sub2api_mock::DEFAULT_ADMIN_PASSWORD)]
    admin_password: String,
    /// Version string the host reports.
    #[arg(long, default_value = sub2api_mock::DEFAULT_HOST_VERSION)]
    host_version: String,
    /// Extra latency (ms) on every admin call.
    #[arg(long, default_value_t = 0)]
    admin_latency_ms: u64,
    /// Extra latency (ms) before an account test answers.
    #[arg(long, default_value_t = 0)]
    account_test_latency_ms: u64,
    /// The first test of each account answers `API returned 403: Forbidden`.
    #[arg(long)]
    first_test_forbidden: bool,
    /// The Responses probe marks third-party OpenAI bases as Responses-capable.
    #[arg(long)]
    responses_misdetection: bool,
    /// After an account is created, its groups answer 503 for this many ms.
    #[arg(long, default_value_t = 0)]
    warmup_ms: u64,
    /// The Nth admin call answers 500 internal error.
    #[arg(long)]
    fail_nth_admin_call: Option<u64>,
    /// The next K admin calls answer 429.
    #[arg(long, default_value_t = 0)]
    rate_limit_next_admin_calls: u32,
    /// Admin calls arriving while N are in flight answer 429 with `Retry-After: 1`.
    #[arg(long, value_name = "N")]
    max_concurrent_admin: Option<u32>,
    /// Backend mode: non-admin users cannot log in.
    #[arg(long)]
    backend_mode: bool,
    /// Behave like a build without channels.
    #[arg(long)]
    disable_channels: bool,
    /// Behave like a build without the payment module.
    #[arg(long)]
    disable_payment: bool,
    /// Delay (ms) of the asynchronous Responses probe.
    #[arg(long, default_value_t = sub2api_mock::DEFAULT_PROBE_DELAY_MS)]
    responses_probe_delay_ms: u64,
    /// Account tests of OpenAI-family API-key accounts end with the older builds'
    /// "Responses API only" message.
    #[arg(long)]
    responses_only_test: bool,
}

/// What the process serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Role {
    Host,
    Vendor,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cli.role == Role::Vendor {
        let vendor = MockHost::start_vendor_on(cli.listen)?;
        announce("sub2api-mock vendor listening on", &vendor.base_url())?;
        vendor.wait();
        return Ok(());
    }
    let faults = Faults {
        admin_latency_ms: cli.admin_latency_ms,
        account_test_latency_ms: cli.account_test_latency_ms,
        first_test_forbidden: cli.first_test_forbidden,
        responses_misdetection: cli.responses_misdetection,
        warmup_ms: cli.warmup_ms,
        fail_nth_admin_call: cli.fail_nth_admin_call,
        rate_limit_next_admin_calls: cli.rate_limit_next_admin_calls,
        max_concurrent_admin: cli.max_concurrent_admin,
        backend_mode: cli.backend_mode,
        disable_channels: cli.disable_channels,
        disable_payment: cli.disable_payment,
        host_version: None,
        responses_probe_delay_ms: cli.responses_probe_delay_ms,
        responses_only_test: cli.responses_only_test,
    };
    let config = MockConfig {
        admin_api_key: cli.admin_api_key.unwrap_or_default(),
        admin_email: cli.admin_email,
        admin_password: cli.admin_password,
        host_version: cli.host_version,
        faults,
    };
    let host = MockHost::start_on(cli.listen, config)?;
    announce("sub2api-mock listening on", &host.base_url())?;
    host.wait();
    Ok(())
}

/// Prints the line callers wait for (`<what> http://ADDR`).
fn announce(what: &str, base_url: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{what} {base_url}")?;
    out.flush()
}
