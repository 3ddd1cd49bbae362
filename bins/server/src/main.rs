//! `relay-server`: the relay manager's HTTP server.
//!
//! Configuration comes from flags or the environment: `RELAY_LISTEN` (default
//! `127.0.0.1:18190`), `RELAY_DATA_DIR` (default `./data`), `RELAY_MASTER_KEY`
//! (base64, 32 bytes; else a 0600 `master.key` in the data directory),
//! `RELAY_ADMIN_TOKEN` (else a 0600 `admin.token` generated in the data directory on
//! first start, whose path is logged but never its value), `RELAY_LOG_FORMAT`
//! (`text` | `json`) and `RELAY_LOG` (a tracing filter, default `info`).

mod token;

use anyhow::{Context, Result};
use clap::Parser;
use relay_api::{router, serve, RouterOptions, ServerConfig, DEFAULT_BODY_LIMIT};
use relay_app::{parse_interval, App, AppConfig, SchedulerConfig};
use relay_domain::Secret;
use relay_store::{KeySource, Store};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The relay manager's HTTP server.
#[derive(Debug, Parser)]
#[command(name = "relay-server", version, about)]
struct Cli {
    /// Address to listen on.
    #[arg(long, env = "RELAY_LISTEN", default_value = "127.0.0.1:18190")]
    listen: SocketAddr,
    /// Directory of the state database, key file and token file.
    #[arg(long, env = "RELAY_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// Log format: text or json.
    #[arg(long, env = "RELAY_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    /// Parallel account tests per import.
    #[arg(long, env = "RELAY_IMPORT_CONCURRENCY", default_value_t = 8)]
    import_concurrency: usize,
    /// Gateway warm-up window in seconds (bounded retry of 503/429/502 after an import).
    #[arg(long, env = "RELAY_WARMUP_SECS", default_value_t = 30)]
    warmup_secs: u64,
    /// Reconcile interval of every enabled provider (`600`, `30s`, `10m`, `1h`; `0` turns the scheduler off).
    #[arg(long, env = "RELAY_RECONCILE_INTERVAL", default_value = "10m")]
    reconcile_interval: String,
    /// Reconcile runs at once per host.
    #[arg(long, env = "RELAY_RECONCILE_PER_HOST", default_value_t = 1)]
    reconcile_per_host: usize,
    /// Serve `GET /metrics` without the operator token.
    #[arg(long, env = "RELAY_METRICS_PUBLIC", default_value_t = false)]
    metrics_public: bool,
    /// Maximum JSON request body in bytes.
    #[arg(long, env = "RELAY_BODY_LIMIT", default_value_t = DEFAULT_BODY_LIMIT)]
    body_limit: usize,
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RELAY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    init_logging(&cli.log_format);
    let reconcile_interval = parse_interval(&cli.reconcile_interval)
        .map_err(|e| anyhow::anyhow!("--reconcile-interval (RELAY_RECONCILE_INTERVAL): {e}"))?;
    if cli.import_concurrency == 0 {
        anyhow::bail!("--import-concurrency (RELAY_IMPORT_CONCURRENCY) must be at least 1");
    }
    std::fs::create_dir_all(&cli.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            cli.data_dir.display()
        )
    })?;
    let master_key = std::env::var("RELAY_MASTER_KEY")
        .ok()
        .filter(|v| !v.is_empty());
    let store = Store::open(&cli.data_dir, master_key.as_deref())
        .with_context(|| format!("cannot open the state store in {}", cli.data_dir.display()))?;
    match store.key_source() {
        KeySource::Supplied => tracing::info!("master key: from RELAY_MASTER_KEY"),
        KeySource::KeyFile {
            path,
            created,
            loose_permissions,
        } => {
            tracing::info!(path = %path.display(), created, "master key: key file");
            if *loose_permissions {
                tracing::warn!(path = %path.display(), "master key file is readable by others: chmod 600 it");
            }
        }
        KeySource::Ephemeral => {
            tracing::warn!("master key: ephemeral (secrets will not survive a restart)")
        }
    }
    let token = match std::env::var("RELAY_ADMIN_TOKEN")
        .ok()
        .filter(|v| !v.trim().is_empty())
    {
        Some(t) => {
            tracing::info!("operator token: from RELAY_ADMIN_TOKEN");
            Secret::new(t.trim().to_string())
        }
        None => {
            let (token, path, created) = token::load_or_create(&cli.data_dir)?;
            tracing::info!(path = %path.display(), created, "operator token: token file");
            token
        }
    };
    let app = Arc::new(App::new(
        store,
        AppConfig {
            import_concurrency: cli.import_concurrency,
            warmup_window: Duration::from_secs(cli.warmup_secs),
            ..AppConfig::default()
        },
    ));
    // Every stored text, log line and API answer is redacted of the operator token.
    app.remember_secret(&token);
    let recovery = app
        .recover_at_startup()
        .context("start-up recovery failed")?;
    if !recovery.interrupted_batches.is_empty() {
        tracing::warn!(
            count = recovery.interrupted_batches.len(),
            "interrupted batches found at start-up"
        );
    }

    let scheduler = if reconcile_interval.is_zero() {
        tracing::info!("reconcile scheduler off (RELAY_RECONCILE_INTERVAL=0)");
        None
    } else {
        let mut config = SchedulerConfig::every(reconcile_interval);
        config.per_host = cli.reconcile_per_host.max(1);
        Some(app.spawn_scheduler(config))
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(cli.listen)
            .await
            .with_context(|| format!("cannot listen on {}", cli.listen))?;
        let addr = listener.local_addr()?;
        let (handle, server) = serve(
            listener,
            router(
                app,
                RouterOptions {
                    metrics_public: cli.metrics_public,
                },
            ),
            ServerConfig {
                operator_token: token,
                body_limit: cli.body_limit,
            },
        );
        println!("relay-server listening on http://{addr}");
        tracing::info!(%addr, "listening");
        let server = tokio::spawn(server);
        shutdown_signal().await;
        tracing::info!("shutting down");
        handle.shutdown();
        let _ = server.await;
        if let Some(s) = scheduler {
            s.stop();
        }
        Ok(())
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
