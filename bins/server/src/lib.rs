//! `relay-server`: the relay manager's HTTP server.
//!
//! Configuration comes from flags or the environment: `RELAY_LISTEN` (default
//! `127.0.0.1:18190`), `RELAY_DATA_DIR` (default `./data`), `RELAY_MASTER_KEY`
//! (base64, 32 bytes; else a 0600 `master.key` in the data directory),
//! `RELAY_ADMIN_TOKEN` (at least 32 characters; else a 0600 `admin.token` generated
//! in the data directory on first start, whose path is logged but never its value),
//! each also readable from a file named by `RELAY_MASTER_KEY_FILE` /
//! `RELAY_ADMIN_TOKEN_FILE` (systemd credentials, container secrets),
//! `RELAY_DATABASE_URL` (`postgres://USER:PASSWORD@HOST:PORT/DATABASE`, also from
//! `RELAY_DATABASE_URL_FILE`: the state lives in that PostgreSQL database, shared by
//! every server pointed at it; unset, it is `relay.db` in the data directory),
//! `RELAY_PACKS_DIR` (the only directory packs are installed from by server path;
//! default `<data dir>/packs`), `RELAY_LOG_FORMAT` (`text` | `json`) and `RELAY_LOG`
//! (a tracing filter, default `info`). The listener's limits (`RELAY_HEADER_TIMEOUT`,
//! `RELAY_BODY_TIMEOUT`, `RELAY_MAX_CONNECTIONS`, `RELAY_AUTH_FAILURES`,
//! `RELAY_AUTH_LOCKOUT`, `RELAY_TRUSTED_PROXIES`) are in [`listener`].
//!
//! At start the process sets its umask to `077` and (on Linux) marks itself not
//! dumpable (no core dumps, no ptrace by other processes of the same user), so no
//! file it creates is readable by others and its memory, which holds the master key
//! and the host credentials, is not written to disk by a crash.
//!
//! `relay-server rotate-master-key [--new-key-file F]` re-seals every sealed secret
//! under a new master key; run it with the server stopped (`docs/deployment.md`).
//!
//! The binary is [`main_with_args`] over the process's arguments; the library form
//! lets a test run the very same server as a process of its own test binary (no
//! second build of the workspace from inside a test).
#![warn(missing_docs)]

mod listener;
mod token;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use relay_api::{router, serve, RouterOptions, ServerConfig, DEFAULT_BODY_LIMIT};
use relay_app::{parse_interval, App, AppConfig, RunWorkerConfig, SchedulerConfig};
use relay_store::{KeySource, MasterKey, Store};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The relay manager's HTTP server.
#[derive(Debug, Parser)]
#[command(name = "relay-server", version, about)]
struct Cli {
    /// Address to listen on.
    #[arg(long, env = "RELAY_LISTEN", default_value = "127.0.0.1:18190")]
    listen: SocketAddr,
    /// Directory of the state database, key file and token file (created 0700).
    #[arg(long, env = "RELAY_DATA_DIR", default_value = "./data", global = true)]
    data_dir: PathBuf,
    /// The only directory packs may be installed from by server path
    /// (default: `<data dir>/packs`); uploads work from anywhere.
    #[arg(long, env = "RELAY_PACKS_DIR")]
    packs_dir: Option<PathBuf>,
    /// Log format: text or json.
    #[arg(long, env = "RELAY_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"], global = true)]
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
    /// Least time between two scheduled model-drift checks of a provider (run after a
    /// scheduled reconcile; `0` turns them off).
    #[arg(long, env = "RELAY_MODEL_DRIFT_INTERVAL", default_value = "24h")]
    model_drift_interval: String,
    /// Reconcile runs at once per host.
    #[arg(long, env = "RELAY_RECONCILE_PER_HOST", default_value_t = 1)]
    reconcile_per_host: usize,
    /// Serve `GET /metrics` without the operator token.
    #[arg(long, env = "RELAY_METRICS_PUBLIC", default_value_t = false)]
    metrics_public: bool,
    /// Name of this server's batch-import worker on its item leases; a restarted
    /// server with the same name takes its own leases back at once (default:
    /// `relay-server@<host name>`). Give each server on one database its own.
    #[arg(long, env = "RELAY_WORKER_ID")]
    worker_id: Option<String>,
    /// How long a batch-import item's confirmation may take, in seconds (retries
    /// with backoff through the host's warm-up window).
    #[arg(long, env = "RELAY_CONFIRM_WINDOW_SECS", default_value_t = 180)]
    confirm_window_secs: u64,
    /// Seconds a lease of this server's work (the per-provider lock of an import,
    /// resume, rollback or reconcile; the end of a batch-import run) lasts unless
    /// renewed: the work of a server that stopped is marked interrupted this long
    /// after its last renewal, by any server on the database.
    #[arg(long, env = "RELAY_LEASE_SECS", default_value_t = 30)]
    lease_secs: u64,
    /// Seconds a batch-import item lease lasts before another worker may take it.
    #[arg(long, env = "RELAY_RUN_LEASE_SECS", default_value_t = 120)]
    run_lease_secs: u64,
    /// First wait between confirmation attempts of a batch-import item, in ms.
    #[arg(long, env = "RELAY_CONFIRM_BACKOFF_MS", default_value_t = 2000)]
    confirm_backoff_ms: u64,
    /// Maximum JSON request body in bytes.
    #[arg(long, env = "RELAY_BODY_LIMIT", default_value_t = DEFAULT_BODY_LIMIT)]
    body_limit: usize,
    #[command(flatten)]
    listener: listener::ListenerArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Re-seal every sealed secret under a new master key. Run it with the server
    /// stopped. With master.key: a new key is generated (or taken from
    /// --new-key-file), written to master.key.next, every secret is re-sealed in one
    /// transaction, then master.key.next replaces master.key; an interrupted run is
    /// finished by running it again. With RELAY_MASTER_KEY: give the new key with
    /// --new-key-file, then set RELAY_MASTER_KEY to it.
    RotateMasterKey {
        /// File holding the new key (base64 of 32 bytes, mode 0600), e.g. made with
        /// `head -c 32 /dev/urandom | base64 > new.key`.
        #[arg(long, value_name = "FILE")]
        new_key_file: Option<PathBuf>,
    },
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

/// Files this process creates are for its user only; its memory is not dumped.
fn harden_process() {
    #[cfg(unix)]
    {
        rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    }
    #[cfg(target_os = "linux")]
    {
        if let Err(e) =
            rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
        {
            eprintln!("relay-server: cannot disable core dumps: {e}");
        }
    }
}

/// A secret from the environment: `NAME`, or the content of the file named by
/// `NAME_FILE` (systemd `LoadCredential=` with `%d/…`, Docker or Kubernetes secrets).
/// Setting both is refused. The file's permissions belong to whatever provides it
/// (a credentials directory, a secrets mount); a file others can read is warned about.
fn secret_env(name: &str) -> Result<Option<relay_domain::Secret>> {
    let value = std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let file_var = format!("{name}_FILE");
    let file = std::env::var_os(&file_var).filter(|v| !v.is_empty());
    match (value, file) {
        (Some(_), Some(_)) => anyhow::bail!("set either {name} or {file_var}, not both"),
        (Some(v), None) => Ok(Some(relay_domain::Secret::new(v))),
        (None, Some(path)) => {
            let path = PathBuf::from(path);
            let meta = std::fs::metadata(&path)
                .with_context(|| format!("{file_var}: cannot read {}", path.display()))?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                if meta.permissions().mode() & 0o007 != 0 {
                    tracing::warn!(path = %path.display(), "{file_var} names a file that every user can read");
                }
            }
            #[cfg(not(unix))]
            let _ = meta;
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("{file_var}: cannot read {}", path.display()))?;
            let text = relay_domain::Secret::new(text);
            let trimmed = text.expose().trim();
            if trimmed.is_empty() {
                anyhow::bail!("{file_var}: {} is empty", path.display());
            }
            Ok(Some(relay_domain::Secret::new(trimmed.to_string())))
        }
        (None, None) => Ok(None),
    }
}

/// The password of a `postgres://user:password@host/db` URL (or of a
/// `key=value` connection string's `password=`), when it has one.
fn database_password(url: &str) -> Option<&str> {
    if let Some(rest) = url.split_once("://").map(|(_, r)| r) {
        let userinfo = rest.split_once('@')?.0;
        return userinfo
            .split_once(':')
            .map(|(_, p)| p)
            .filter(|p| !p.is_empty());
    }
    url.split_whitespace()
        .find_map(|kv| kv.strip_prefix("password="))
        .map(|p| p.trim_matches('\''))
        .filter(|p| !p.is_empty())
}

fn master_key_env() -> Result<Option<relay_domain::Secret>> {
    secret_env("RELAY_MASTER_KEY")
}

/// Runs `relay-server` with `args` (the first is the program name) and the process
/// environment, exactly as the binary does: serves until SIGINT or SIGTERM, or runs
/// the subcommand. It sets the process's umask and dumpable flag and installs the
/// global tracing subscriber, so call it once per process.
pub fn main_with_args<I, T>(args: I) -> Result<()>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    harden_process();
    let cli = Cli::parse_from(args);
    init_logging(&cli.log_format);
    if let Some(Command::RotateMasterKey { new_key_file }) = &cli.command {
        let database_url = secret_env("RELAY_DATABASE_URL")?;
        return rotate(
            &cli.data_dir,
            database_url.as_ref().map(|u| u.expose()),
            new_key_file.as_deref(),
        );
    }
    let reconcile_interval = parse_interval(&cli.reconcile_interval)
        .map_err(|e| anyhow::anyhow!("--reconcile-interval (RELAY_RECONCILE_INTERVAL): {e}"))?;
    let model_drift_interval = parse_interval(&cli.model_drift_interval)
        .map_err(|e| anyhow::anyhow!("--model-drift-interval (RELAY_MODEL_DRIFT_INTERVAL): {e}"))?;
    if cli.import_concurrency == 0 {
        anyhow::bail!("--import-concurrency (RELAY_IMPORT_CONCURRENCY) must be at least 1");
    }
    let limits = cli.listener.limits()?;
    let trusted_proxies = cli.listener.trusted_proxies()?;
    listener::check_fd_limit(limits.max_connections);
    let env_token = secret_env("RELAY_ADMIN_TOKEN")?
        .map(|t| token::from_env(t.expose()))
        .transpose()?;
    let master_key = master_key_env()?;
    let database_url = secret_env("RELAY_DATABASE_URL")?;
    let master_key_b64 = master_key.as_ref().map(|k| k.expose());
    let store = match &database_url {
        Some(url) => Store::open_postgres(url.expose(), &cli.data_dir, master_key_b64).context(
            "cannot open the state store in the PostgreSQL database of RELAY_DATABASE_URL",
        )?,
        None => Store::open(&cli.data_dir, master_key_b64).with_context(|| {
            format!("cannot open the state store in {}", cli.data_dir.display())
        })?,
    };
    if let Some(url) = &database_url {
        // The URL's password must never reach a stored text or a log line.
        store.remember_secret(url);
        if let Some(password) = database_password(url.expose()) {
            store.remember_secret(&relay_domain::Secret::new(password.to_string()));
        }
    }
    tracing::info!(database = %store.location(), "state store open");
    match store.key_source() {
        KeySource::Supplied => {
            tracing::info!(
                key_id = store.key_id(),
                "master key: from RELAY_MASTER_KEY(_FILE)"
            )
        }
        KeySource::KeyFile { path, created } => {
            tracing::info!(path = %path.display(), created, key_id = store.key_id(), "master key: key file");
        }
        KeySource::Ephemeral => {
            tracing::warn!("master key: ephemeral (secrets will not survive a restart)")
        }
    }
    if store.pending_rotation() {
        tracing::warn!(
            key_id = store.key_id(),
            "a master-key rotation was started and not finished (master.key.next exists): stop the server and run `relay-server rotate-master-key` to finish it"
        );
    }
    for path in store.tightened_files() {
        tracing::warn!(path = %path.display(), "database file was readable by others: set to 0600");
    }
    let token = match env_token {
        Some(t) => {
            tracing::info!("operator token: from RELAY_ADMIN_TOKEN(_FILE)");
            t
        }
        None => {
            let (token, path, created) = token::load_or_create(&cli.data_dir)?;
            tracing::info!(path = %path.display(), created, "operator token: token file");
            token
        }
    };
    let packs_root = packs_root(&cli)?;
    let app = Arc::new(App::new(
        store,
        AppConfig {
            import_concurrency: cli.import_concurrency,
            warmup_window: Duration::from_secs(cli.warmup_secs),
            packs_root: Some(packs_root),
            worker_id: worker_id(&cli),
            lease_ttl: Duration::from_secs(cli.lease_secs.max(1)),
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

    // Work left running by a server that stopped (this one earlier, or another on
    // the database) is marked interrupted once its lease lapses.
    let sweeper = app.spawn_sweeper(Duration::from_secs(cli.lease_secs.max(3)) / 3);

    let scheduler = if reconcile_interval.is_zero() {
        tracing::info!("reconcile scheduler off (RELAY_RECONCILE_INTERVAL=0)");
        None
    } else {
        let mut config = SchedulerConfig::every(reconcile_interval);
        config.per_host = cli.reconcile_per_host.max(1);
        config.drift_interval = model_drift_interval;
        Some(app.spawn_scheduler(config))
    };

    let run_worker = app.spawn_run_worker(RunWorkerConfig {
        owner: worker_id(&cli),
        lease: Duration::from_secs(cli.run_lease_secs.max(5)),
        confirm_window: Duration::from_secs(cli.confirm_window_secs),
        initial_backoff: Duration::from_millis(cli.confirm_backoff_ms.max(100)),
        ..RunWorkerConfig::default()
    });

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(cli.listen)
            .await
            .with_context(|| format!("cannot listen on {}", cli.listen))?;
        let addr = listener.local_addr()?;
        let shown = limits.clone();
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
                limits,
                trusted_proxies,
            },
        );
        println!("relay-server listening on http://{addr}");
        tracing::info!(
            %addr,
            max_connections = shown.max_connections,
            header_timeout_ms = shown.header_timeout.as_millis() as u64,
            body_timeout_ms = shown.body_timeout.as_millis() as u64,
            auth_failures = shown.auth_failures,
            auth_lockout_secs = shown.auth_lockout.as_secs(),
            "listening"
        );
        let server = tokio::spawn(server);
        shutdown_signal().await;
        tracing::info!("shutting down");
        handle.shutdown();
        let _ = server.await;
        if let Some(s) = scheduler {
            s.stop();
        }
        run_worker.stop();
        sweeper.stop();
        Ok(())
    })
}

/// This server's name on its leases (batch-import items, the per-provider lock, the
/// end of a run): `RELAY_WORKER_ID`, else `relay-server@<host name>`.
fn worker_id(cli: &Cli) -> String {
    if let Some(id) = cli
        .worker_id
        .as_deref()
        .map(str::trim)
        .filter(|i| !i.is_empty())
    {
        return id.to_string();
    }
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into());
    format!("relay-server@{host}")
}

/// The packs directory: `RELAY_PACKS_DIR`, else `<data dir>/packs` (created 0700
/// when missing). A configured directory that does not exist is only warned about:
/// uploads still work.
fn packs_root(cli: &Cli) -> Result<PathBuf> {
    let configured = cli.packs_dir.as_ref().filter(|d| !d.as_os_str().is_empty());
    let root = match configured {
        Some(dir) => dir.clone(),
        None => {
            let dir = cli.data_dir.join("packs");
            if !dir.exists() {
                std::fs::create_dir(&dir).with_context(|| {
                    format!("cannot create the packs directory {}", dir.display())
                })?;
            }
            dir
        }
    };
    if root.is_dir() {
        tracing::info!(path = %root.display(), "packs directory (installs by server path)");
    } else {
        tracing::warn!(path = %root.display(), "packs directory does not exist: installs by server path are refused until it does (uploads work)");
    }
    Ok(root)
}

/// `relay-server rotate-master-key`.
fn rotate(data_dir: &Path, database_url: Option<&str>, new_key_file: Option<&Path>) -> Result<()> {
    let current = master_key_env()?;
    let new_key: Option<MasterKey> = match new_key_file {
        Some(path) => Some(
            relay_store::read_key_file(path)
                .with_context(|| format!("cannot use the new key file {}", path.display()))?
                .with_context(|| format!("the new key file {} does not exist", path.display()))?,
        ),
        None => None,
    };
    let report = relay_store::rotate_master_key_in(
        data_dir,
        database_url,
        current.as_ref().map(|k| k.expose()),
        new_key,
    )
    .with_context(|| {
        format!(
            "master-key rotation of the store of {} did not complete",
            data_dir.display()
        )
    })?;
    let c = &report.counts;
    println!(
        "re-sealed {} secrets under key id {} ({} host credentials, {} subscriber passwords, \
         {} probe and user keys, {} pending batch-import keys; {} already under it)",
        c.resealed(),
        report.new_key_id,
        c.host_credentials,
        c.subscriber_passwords,
        c.sealed_secrets,
        c.run_item_keys,
        c.already_current
    );
    if !report.old_key_ids.is_empty() {
        println!("previous key id(s): {}", report.old_key_ids.join(", "));
    }
    match &report.key_file {
        Some(path) => println!(
            "{} now holds the new key: back it up (backups of the database taken before now \
             still need the previous key)",
            path.display()
        ),
        None => println!(
            "set RELAY_MASTER_KEY to the new key (the content of --new-key-file) before the \
             next start: the previous key no longer opens this database"
        ),
    }
    tracing::info!(new_key_id = %report.new_key_id, resealed = c.resealed(), "master key rotated");
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::database_password;

    #[test]
    fn the_database_password_is_found_in_both_url_forms() {
        assert_eq!(
            database_password("postgres://relay:s3cr%21t@db.internal:5432/relay"),
            Some("s3cr%21t")
        );
        assert_eq!(database_password("postgres://relay@db/relay"), None);
        assert_eq!(
            database_password("host=db user=relay password='pw1' dbname=relay"),
            Some("pw1")
        );
        assert_eq!(database_password("host=db user=relay"), None);
    }
}
