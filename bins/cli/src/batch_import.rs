//! `relay batch-import create|list|show|items|events|retry|cancel|watch`: batch
//! auto-import runs ("URL + key", SPEC §5).
//!
//! A run is created from a file of pasted lines (`<base_url> <key> [model hint]`), sent
//! as they are in `lines`; the server answers at once and a worker takes the items. The
//! keys are never printed: every key of the file is registered with the client's
//! redaction, and items are shown by their masks. Answers are read as the contract's
//! types (`relay-api-types`); `--output json` prints them as the server sent them.
//!
//! `watch` (and `create --watch`) polls the run and its items until the run ends and
//! exits 0 only when it `succeeded`; `partially_succeeded`, `failed` and `cancelled`
//! exit 1 (stderr names the state).

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use relay_api_types::{
    CreateRunRequest, DomainVocabulary as _, ImportSubscriber, RetryRunRequest, RetryRunView,
    RetryScope, RunCountsView, RunItemEventList, RunItemList, RunItemView, RunList,
    RunProviderAccess, RunState, RunView,
};
use relay_domain::AccessMode;
use serde_json::Value;

use crate::client::{body, read, segment, ApiError, Client};
use crate::import::{access_mode_arg, with_days};
use crate::input::{self, usage};
use crate::output::{
    at, list, opt, opt_at, print_failure, print_json, render_fields, render_table, s, yes_no,
    OutputFormat,
};
use crate::status::host_names;
use crate::Ctx;

/// How often `watch` polls the run and its items.
const POLL_INTERVAL: Duration = Duration::from_millis(1500);
/// How long `watch` tolerates an unreachable server (runs go on after a restart).
const POLL_OUTAGE: Duration = Duration::from_secs(60);
/// Page size `watch` and `--all` read items and runs with (the API's largest).
const FULL_PAGE: u32 = 500;

/// `--state`: one of the run states (the vocabulary of the contract).
fn run_state_value() -> impl clap::builder::TypedValueParser<Value = RunState> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(RunState::ALL.iter().map(|s| s.as_str())).map(
        |value| {
            value
                .parse::<RunState>()
                .expect("a listed run state parses")
        },
    )
}

/// `--limit`: a page size the API takes.
fn page_limit() -> clap::builder::RangedI64ValueParser<u32> {
    clap::value_parser!(u32).range(1..=i64::from(FULL_PAGE))
}

/// Batch-import subcommands.
#[derive(Debug, Subcommand)]
#[command(
    after_help = "Exit codes: 0 on success; `watch`, `create --watch` and `retry --watch` exit 0 only when the \
                  run succeeded and 1 when it ended partially_succeeded, failed or cancelled \
                  (stderr says which); 1 for an error answer; 2 for a usage error."
)]
pub enum BatchImportCommand {
    /// Start a run from a file of lines `<base_url> <key> [model hint]` ('-' reads stdin).
    Create(CreateArgs),
    /// List runs, newest first, one page at a time.
    List {
        /// Only runs in this state.
        #[arg(long, value_name = "STATE", value_parser = run_state_value())]
        state: Option<RunState>,
        /// Only runs on this host (id or name).
        #[arg(long, value_name = "HOST")]
        host: Option<String>,
        /// Only runs with an item of this provider.
        #[arg(long, value_name = "PROVIDER")]
        provider: Option<String>,
        /// Only runs whose id, or one of whose items' provider or base URL, holds this text.
        #[arg(long, value_name = "TEXT")]
        q: Option<String>,
        /// Start at this page (the `next_cursor` of the page before).
        #[arg(long, value_name = "CURSOR")]
        cursor: Option<String>,
        /// Page size (1-500; default the server's, 50).
        #[arg(long, value_name = "N", value_parser = page_limit())]
        limit: Option<u32>,
        /// Read every page.
        #[arg(long)]
        all: bool,
    },
    /// Show a run: request, counts, access proof per provider.
    Show {
        /// Run id (`run-…`).
        run_id: String,
    },
    /// List a run's items by line: item id, mask, provider, model correction, reuse, state.
    Items {
        /// Run id.
        run_id: String,
        /// Start at this page (the `next_cursor` of the page before).
        #[arg(long, value_name = "CURSOR")]
        cursor: Option<String>,
        /// Page size (1-500; default the server's, 50).
        #[arg(long, value_name = "N", value_parser = page_limit())]
        limit: Option<u32>,
        /// Read every page.
        #[arg(long)]
        all: bool,
    },
    /// An item's event trail, oldest first.
    Events {
        /// Item id (`item-…`).
        item_id: String,
    },
    /// Retry a run's failed items (with --all, its cancelled ones too).
    Retry {
        /// Run id.
        run_id: String,
        /// Retry cancelled items as well as failed ones.
        #[arg(long)]
        all: bool,
        /// Follow the run to its end afterwards (as `watch`).
        #[arg(long)]
        watch: bool,
    },
    /// Cancel a run: every unfinished item stops and the keys it holds are erased.
    Cancel {
        /// Run id.
        run_id: String,
        /// Do not ask for confirmation (needed when stdin is not a terminal).
        #[arg(long)]
        yes: bool,
    },
    /// Follow a run live until it ends: item state changes and counts.
    Watch {
        /// Run id.
        run_id: String,
    },
}

/// Arguments of `relay batch-import create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Host id or name.
    #[arg(long, value_name = "HOST")]
    host: String,
    /// File with the lines `<base_url> <key> [model hint]`, one item per line; blank
    /// lines and # comments are ignored ('-' reads stdin). It holds keys: it is sent,
    /// never printed.
    #[arg(long, value_name = "FILE")]
    file: PathBuf,
    /// Pack whose providers the base URLs are matched against (default: the only installed pack; name one when several are installed).
    #[arg(long, value_name = "PACK")]
    pack: Option<String>,
    /// How users get access: subscription (default) or self_service.
    #[arg(long, alias = "access", value_parser = access_mode_arg(), value_name = "MODE")]
    access_mode: Option<AccessMode>,
    /// A base URL no provider serves becomes an ad-hoc OpenAI-compatible provider (its
    /// line needs a model hint).
    #[arg(long)]
    allow_adhoc: bool,
    /// Profile each upstream first (spends a few tiny requests of each key).
    #[arg(long)]
    profile: bool,
    /// Subscriber by e-mail, or by host user id (a number), with its own subscription
    /// validity in days after a colon (`bob@example.com:7`, `42:30`); repeatable.
    #[arg(long = "subscriber", value_name = "EMAIL|ID[:DAYS]", value_parser = with_days::<String>)]
    subscribers: Vec<(String, Option<u32>)>,
    /// Subscriber by host user id, with its own validity in days after a colon;
    /// repeatable.
    #[arg(long = "subscriber-id", value_name = "ID[:DAYS]", value_parser = with_days::<i64>)]
    subscriber_ids: Vec<(i64, Option<u32>)>,
    /// Subscription validity in days (default the plan template's).
    #[arg(long, alias = "days", value_name = "N")]
    validity_days: Option<u32>,
    /// Follow the run to its end (as `watch`).
    #[arg(long)]
    watch: bool,
}

/// Runs a batch-import subcommand.
pub fn run(command: BatchImportCommand, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    match command {
        BatchImportCommand::Create(args) => create(args, ctx),
        BatchImportCommand::List {
            state,
            host,
            provider,
            q,
            cursor,
            limit,
            all,
        } => {
            let client = ctx.client()?;
            let filters = [
                ("state", state.map(RunState::as_str).map(str::to_owned)),
                ("host_id", host),
                ("provider_id", provider),
                ("q", q),
            ];
            let (doc, list) = if all {
                let runs = every_page(cursor, |cursor| {
                    let doc = get_page(&client, "/api/batch-import/runs", &filters, cursor, limit)?;
                    let page: RunList = read(&doc)?;
                    Ok((page.runs, page.next_cursor))
                })?;
                let list = RunList {
                    runs,
                    next_cursor: None,
                };
                (serde_json::to_value(&list)?, list)
            } else {
                let doc = get_page(
                    &client,
                    "/api/batch-import/runs",
                    &filters,
                    cursor.as_deref(),
                    limit,
                )?;
                let list: RunList = read(&doc)?;
                (doc, list)
            };
            match ctx.format {
                OutputFormat::Json => print_json(&doc)?,
                OutputFormat::Table => {
                    let names = host_names(&client)?;
                    print!("{}", runs_table(&list.runs, &names));
                    if let Some(next) = &list.next_cursor {
                        println!(
                            "\nmore runs: add --cursor {next} (same filters) for the next page, \
                             or --all"
                        );
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        BatchImportCommand::Show { run_id } => {
            let client = ctx.client()?;
            let doc = client.get(&run_path(&run_id), &[])?;
            match ctx.format {
                OutputFormat::Json => print_json(&doc)?,
                OutputFormat::Table => {
                    let names = host_names(&client)?;
                    print!("{}", run_text(&read(&doc)?, &names));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        BatchImportCommand::Items {
            run_id,
            cursor,
            limit,
            all,
        } => {
            let client = ctx.client()?;
            let path = format!("{}/items", run_path(&run_id));
            let (doc, list) = if all {
                let items = every_page(cursor, |cursor| {
                    let doc = get_page(&client, &path, &[], cursor, limit)?;
                    let page: RunItemList = read(&doc)?;
                    Ok((page.items, page.next_cursor))
                })?;
                let list = RunItemList {
                    items,
                    next_cursor: None,
                };
                (serde_json::to_value(&list)?, list)
            } else {
                let doc = get_page(&client, &path, &[], cursor.as_deref(), limit)?;
                let list: RunItemList = read(&doc)?;
                (doc, list)
            };
            match ctx.format {
                OutputFormat::Json => print_json(&doc)?,
                OutputFormat::Table => {
                    print!("{}", items_text(&list.items));
                    if let Some(next) = &list.next_cursor {
                        println!("\nmore items: add --cursor {next} for the next page, or --all");
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        BatchImportCommand::Events { item_id } => {
            let client = ctx.client()?;
            let doc = client.get(
                &format!("/api/batch-import/items/{}/events", segment(&item_id)),
                &[],
            )?;
            match ctx.format {
                OutputFormat::Json => print_json(&doc)?,
                OutputFormat::Table => {
                    print!("{}", events_table(&read::<RunItemEventList>(&doc)?))
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        BatchImportCommand::Retry { run_id, all, watch } => {
            let client = ctx.client()?;
            let request = RetryRunRequest {
                scope: Some(if all {
                    RetryScope::All
                } else {
                    RetryScope::Failed
                }),
            };
            let doc = client.post(&format!("{}/retry", run_path(&run_id)), &body(&request))?;
            let view: RetryRunView = read(&doc)?;
            if !view.without_key.is_empty() {
                eprintln!(
                    "warning: {} item(s) left as they are: no account and no key held any more \
                     (paste their lines again in a new run): {}",
                    view.without_key.len(),
                    list(&view.without_key)
                );
            }
            if watch {
                if ctx.format == OutputFormat::Table {
                    println!(
                        "retried {} item(s) of run {}",
                        view.retried.len(),
                        s(&view.run.run_id)
                    );
                }
                return watch_run(&client, serde_json::to_value(&view.run)?, ctx.format);
            }
            match ctx.format {
                OutputFormat::Json => print_json(&doc)?,
                OutputFormat::Table => {
                    let names = host_names(&client)?;
                    print!("{}", run_text(&view.run, &names));
                    println!(
                        "\nretried {} item(s): {}",
                        view.retried.len(),
                        list(&view.retried)
                    );
                    println!(
                        "follow it with `relay batch-import watch {}`",
                        s(&view.run.run_id)
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        BatchImportCommand::Cancel { run_id, yes } => {
            let client = ctx.client()?;
            if !yes && !confirm_cancel(&client, &run_id)? {
                print_failure("not_cancelled", &format!("run {run_id} was not cancelled"));
                return Ok(ExitCode::FAILURE);
            }
            let doc = client.post_empty(&format!("{}/cancel", run_path(&run_id)))?;
            match ctx.format {
                OutputFormat::Json => print_json(&doc)?,
                OutputFormat::Table => {
                    let view: RunView = read(&doc)?;
                    let names = host_names(&client)?;
                    print!("{}", run_text(&view, &names));
                    println!("\ncancelled run {}", s(&view.run_id));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        BatchImportCommand::Watch { run_id } => {
            let client = ctx.client()?;
            let doc = client.get(&run_path(&run_id), &[])?;
            watch_run(&client, doc, ctx.format)
        }
    }
}

/// `relay batch-import create`.
fn create(args: CreateArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    input::one_stdin(&[
        ("--token-file", ctx.token_file()),
        ("--file", Some(&args.file)),
    ])?;
    let mut client = ctx.client()?;
    let lines = input::read_text(&args.file, "--file")?;
    let keys = line_keys(&lines);
    if keys.is_empty() {
        return Err(usage(format!(
            "--file {}: no line found (one `<base_url> <key> [model hint]` per line; blank \
             lines and # comments are ignored)",
            input::shown(&args.file)
        )));
    }
    for key in &keys {
        client.redact(key);
    }
    let request = CreateRunRequest {
        host_id: args.host,
        lines,
        pack_id: args.pack,
        access_mode: args.access_mode,
        allow_adhoc: args.allow_adhoc,
        profile: args.profile,
        subscribers: subscribers(&args.subscribers, &args.subscriber_ids),
        validity_days: args.validity_days,
    };
    let doc = client.post("/api/batch-import/runs", &body(&request))?;
    let run: RunView = read(&doc)?;
    if args.watch {
        if ctx.format == OutputFormat::Table {
            println!(
                "started run {} ({} line(s))",
                s(&run.run_id),
                run.counts.total
            );
        }
        return watch_run(&client, doc, ctx.format);
    }
    match ctx.format {
        OutputFormat::Json => print_json(&doc)?,
        OutputFormat::Table => {
            let names = host_names(&client)?;
            print!("{}", run_text(&run, &names));
            println!(
                "\nstarted run {id}; follow it with `relay batch-import watch {id}`",
                id = s(&run.run_id)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The key of every line of a paste, as the server reads it (`<base_url> <key> [hint]`,
/// fields split by white space, or by tabs and commas when the line holds one): the
/// first field that is not a URL. Only for redaction; the server parses the lines.
fn line_keys(text: &str) -> Vec<String> {
    text.lines()
        .map(|line| line.trim_matches(|c: char| c == '\u{feff}' || c.is_whitespace()))
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| {
            let fields: Vec<&str> = if line.contains([',', '\t']) {
                line.split([',', '\t'])
                    .map(str::trim)
                    .filter(|f| !f.is_empty())
                    .collect()
            } else {
                line.split_whitespace().collect()
            };
            fields
                .into_iter()
                .find(|f| !f.contains("://"))
                .map(str::to_owned)
        })
        .collect()
}

/// The subscribers: `--subscriber` values that are whole numbers are host user ids,
/// the others e-mails; then every `--subscriber-id`; each with its own validity when
/// given.
fn subscribers(
    values: &[(String, Option<u32>)],
    ids: &[(i64, Option<u32>)],
) -> Vec<ImportSubscriber> {
    values
        .iter()
        .map(|(value, days)| match value.trim().parse::<i64>() {
            Ok(id) => ImportSubscriber {
                email: None,
                user_id: Some(id),
                validity_days: *days,
            },
            Err(_) => ImportSubscriber {
                email: Some(value.clone()),
                user_id: None,
                validity_days: *days,
            },
        })
        .chain(ids.iter().map(|(id, days)| ImportSubscriber {
            email: None,
            user_id: Some(*id),
            validity_days: *days,
        }))
        .collect()
}

fn run_path(run_id: &str) -> String {
    format!("/api/batch-import/runs/{}", segment(run_id))
}

/// `GET path` with the filters, the cursor and the page size.
fn get_page(
    client: &Client,
    path: &str,
    filters: &[(&str, Option<String>)],
    cursor: Option<&str>,
    limit: Option<u32>,
) -> Result<Value, ApiError> {
    let limit = limit.map(|n| n.to_string());
    let mut query: Vec<(&str, Option<&str>)> = filters
        .iter()
        .map(|(name, value)| (*name, value.as_deref()))
        .collect();
    query.push(("cursor", cursor));
    query.push(("limit", limit.as_deref()));
    client.get(path, &query)
}

/// Every row of every page from `cursor` on: `page(cursor)` answers a page's rows and
/// its `next_cursor`. A cursor answered twice ends the reading (a server bug, not a loop).
fn every_page<T>(
    cursor: Option<String>,
    mut page: impl FnMut(Option<&str>) -> anyhow::Result<(Vec<T>, Option<String>)>,
) -> anyhow::Result<Vec<T>> {
    let mut rows = Vec::new();
    let mut cursor = cursor;
    let mut seen: Vec<String> = Vec::new();
    loop {
        let (mut more, next) = page(cursor.as_deref())?;
        rows.append(&mut more);
        match next {
            Some(next) if !seen.contains(&next) => {
                seen.push(next.clone());
                cursor = Some(next);
            }
            _ => return Ok(rows),
        }
    }
}

/// Every item of a run, by line.
fn all_items(client: &Client, run_id: &str) -> anyhow::Result<Vec<RunItemView>> {
    let path = format!("{}/items", run_path(run_id));
    every_page(None, |cursor| {
        let doc = get_page(client, &path, &[], cursor, Some(FULL_PAGE))?;
        let page: RunItemList = read(&doc)?;
        Ok((page.items, page.next_cursor))
    })
}

/// Asks on the terminal whether to cancel the run; refuses (usage error) when stdin is
/// not a terminal.
fn confirm_cancel(client: &Client, run_id: &str) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Err(usage(format!(
            "cancelling run {run_id} needs a confirmation: pass --yes (standard input is not \
             a terminal)"
        )));
    }
    let run: RunView = read(&client.get(&run_path(run_id), &[])?)?;
    eprint!(
        "Cancel run {} ({}, {} of {} item(s) not finished)? Every unfinished item stops and \
         the keys the run holds are erased. [y/N] ",
        s(&run.run_id),
        run.state,
        run.counts.open,
        run.counts.total
    );
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// What `watch` compares between two polls of an item.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    state: String,
    confirmation: String,
    reuse: Option<String>,
    account_id: Option<i64>,
    attempts: i64,
    last_error: Option<String>,
}

impl Seen {
    fn of(item: &RunItemView) -> Seen {
        Seen {
            state: item.state.to_string(),
            confirmation: item.confirmation_status.to_string(),
            reuse: item.reuse_decision.map(|d| d.to_string()),
            account_id: item.account_id,
            attempts: item.attempts,
            last_error: item.last_error.clone(),
        }
    }
}

/// One line of `watch` for an item that changed (`before` is what the previous poll saw).
fn change_line(item: &RunItemView, before: Option<&Seen>) -> String {
    let now = Seen::of(item);
    let state = match before {
        Some(before) if before.state != now.state => format!("{} → {}", before.state, now.state),
        _ => now.state.clone(),
    };
    let mut details = vec![match before {
        Some(before) if before.confirmation != now.confirmation => format!(
            "confirmation {} → {}",
            before.confirmation, now.confirmation
        ),
        _ => format!("confirmation {}", now.confirmation),
    }];
    if let Some(reuse) = &now.reuse {
        details.push(reuse.clone());
    }
    if let Some(account) = now.account_id {
        details.push(format!("account {account}"));
    }
    if now.attempts > 0 {
        details.push(format!("attempts {}", now.attempts));
    }
    if let Some(error) = &now.last_error {
        details.push(format!("last error: {error}"));
    }
    format!(
        "{} line {} {} {}: {state} ({})",
        clock(item.updated_at),
        item.line,
        s(&item.mask),
        provider_text(item),
        details.join(", ")
    )
}

/// `HH:MM:SSZ` of a timestamp.
fn clock(ms: i64) -> String {
    let text = at(ms);
    text.split_once(' ')
        .map_or(text.clone(), |(_, time)| time.to_owned())
}

fn counts_line(run: &RunView) -> String {
    let c = &run.counts;
    format!(
        "run {} {}: {} ok, {} failed, {} skipped, {} cancelled, {} open of {}",
        s(&run.run_id),
        run.state,
        c.succeeded,
        c.failed,
        c.skipped,
        c.cancelled,
        c.open,
        c.total
    )
}

/// Follows a run until it ends (polling it and its items), printing each item's changes
/// and the counts when they change (on stdout; on stderr with `--output json`, which
/// prints the final run on stdout). Exit code: 0 when the run succeeded, 1 otherwise.
fn watch_run(client: &Client, first: Value, format: OutputFormat) -> anyhow::Result<ExitCode> {
    let say = |line: &str| match format {
        OutputFormat::Table => println!("{line}"),
        OutputFormat::Json => eprintln!("{line}"),
    };
    let mut run: RunView = read(&first)?;
    let mut doc = first;
    let run_id = run.run_id.clone();
    let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
    let mut last_counts: Option<(RunState, RunCountsView)> = None;
    let mut outage: Option<Instant> = None;
    loop {
        // The run first: when it has ended, the items read after it are final.
        let terminal = run.state.is_terminal();
        let items = match all_items(client, &run_id) {
            Ok(items) => Some(items),
            Err(error) => {
                tolerate(error, &mut outage, &run_id)?;
                None
            }
        };
        if let Some(items) = items {
            for item in &items {
                let now = Seen::of(item);
                let before = seen.get(&item.item_id);
                if before != Some(&now) {
                    say(&change_line(item, before));
                    seen.insert(item.item_id.clone(), now);
                }
            }
            let counts = (run.state, run.counts.clone());
            if last_counts.as_ref() != Some(&counts) {
                say(&counts_line(&run));
                last_counts = Some(counts);
            }
            if terminal {
                return finish(client, &run, &doc, format);
            }
        }
        std::thread::sleep(POLL_INTERVAL);
        match client.get(&run_path(&run_id), &[]) {
            Ok(next) => {
                run = read(&next)?;
                doc = next;
                outage = None;
            }
            Err(error) => tolerate(anyhow::Error::new(error), &mut outage, &run_id)?,
        }
    }
}

/// Lets `watch` ride out an unreachable server for [`POLL_OUTAGE`]; any other error (and
/// a longer outage) ends it, naming the run to look at again.
fn tolerate(
    error: anyhow::Error,
    outage: &mut Option<Instant>,
    run_id: &str,
) -> anyhow::Result<()> {
    let api = error.downcast::<ApiError>()?;
    if api.is_transport() {
        let since = *outage.get_or_insert_with(Instant::now);
        if since.elapsed() <= POLL_OUTAGE {
            return Ok(());
        }
    }
    let message = format!(
        "lost track of run {run_id} ({}); it goes on by itself: check it with \
         `relay batch-import show {run_id}`",
        api.message
    );
    Err(anyhow::Error::new(ApiError { message, ..api }))
}

/// The end of a watch: the run (as text, or the server's document), and the exit code
/// of its state.
fn finish(
    client: &Client,
    run: &RunView,
    doc: &Value,
    format: OutputFormat,
) -> anyhow::Result<ExitCode> {
    match format {
        OutputFormat::Json => print_json(doc)?,
        OutputFormat::Table => {
            let names = host_names(client)?;
            print!("\n{}", run_text(run, &names));
        }
    }
    let id = s(&run.run_id);
    let c = &run.counts;
    let table = format == OutputFormat::Table;
    let (code, message) = match run.state {
        RunState::Succeeded => {
            if table {
                println!("\nrun {id} succeeded (access {})", run.access_status);
            }
            return Ok(ExitCode::SUCCESS);
        }
        RunState::PartiallySucceeded => (
            "import_run_partially_succeeded",
            format!(
                "run {id} partially succeeded: {} item(s) failed, {} succeeded; see \
                 `relay batch-import items {id}`, retry with `relay batch-import retry {id}`",
                c.failed, c.succeeded
            ),
        ),
        RunState::Cancelled => (
            "import_run_cancelled",
            format!("run {id} was cancelled ({} item(s) cancelled)", c.cancelled),
        ),
        other => (
            "import_run_failed",
            format!(
                "run {id} {other}: {}; see `relay batch-import items {id}`",
                run.error
                    .clone()
                    .unwrap_or_else(|| format!("{} item(s) failed", c.failed))
            ),
        ),
    };
    print_failure(code, &message);
    Ok(ExitCode::FAILURE)
}

/// The host of a run: its name, else its id.
fn host_text(host_id: &str, names: &BTreeMap<String, String>) -> String {
    names.get(host_id).cloned().unwrap_or_else(|| s(host_id))
}

fn runs_table(runs: &[RunView], names: &BTreeMap<String, String>) -> String {
    if runs.is_empty() {
        return "no run\n".into();
    }
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            let c = &r.counts;
            vec![
                s(&r.run_id),
                r.state.to_string(),
                host_text(&r.host_id, names),
                format!(
                    "{}/{}/{}/{} of {}",
                    c.succeeded, c.failed, c.skipped, c.open, c.total
                ),
                r.access_status.to_string(),
                at(r.created_at),
            ]
        })
        .collect();
    render_table(
        &[
            "RUN",
            "STATE",
            "HOST",
            "OK/FAILED/SKIPPED/OPEN",
            "ACCESS",
            "CREATED",
        ],
        &rows,
    )
}

/// A run as text: its request, counts, error and access proof per provider.
fn run_text(run: &RunView, names: &BTreeMap<String, String>) -> String {
    let c = &run.counts;
    let mut out = render_fields(&[
        ("run", s(&run.run_id)),
        ("state", run.state.to_string()),
        ("host", host_text(&run.host_id, names)),
        ("pack", s(&run.pack_id)),
        ("access_mode", run.access_mode.to_string()),
        ("subscribers", list(&run.subscribers)),
        ("validity_days", opt(run.validity_days)),
        (
            "subscriber_validity",
            list(
                &run.subscriber_validity
                    .iter()
                    .map(|v| format!("{}:{}", v.subscriber, v.validity_days))
                    .collect::<Vec<_>>(),
            ),
        ),
        ("allow_adhoc", yes_no(run.allow_adhoc)),
        ("profile", yes_no(run.profile)),
        (
            "items",
            format!(
                "{} total: {} ok, {} failed, {} skipped, {} cancelled, {} open",
                c.total, c.succeeded, c.failed, c.skipped, c.cancelled, c.open
            ),
        ),
        ("access", run.access_status.to_string()),
        ("created_at", at(run.created_at)),
        ("finished_at", opt_at(run.finished_at)),
    ]);
    if let Some(error) = &run.error {
        out.push_str(&format!("error: {error}\n"));
    }
    if !run.access.is_empty() {
        out.push_str("\naccess proof:\n");
        for line in access_table(&run.access).lines() {
            out.push_str(&format!("  {line}\n"));
        }
    }
    out
}

fn access_table(access: &[RunProviderAccess]) -> String {
    let rows: Vec<Vec<String>> = access
        .iter()
        .map(|a| {
            vec![
                s(&a.provider_id),
                a.access_status.to_string(),
                a.subscription.wire().to_owned(),
                a.self_service.wire().to_owned(),
                opt(a.completion_status),
                opt(a.message.as_deref()),
            ]
        })
        .collect();
    render_table(
        &[
            "PROVIDER",
            "ACCESS",
            "SUBSCRIPTION",
            "SELF_SERVICE",
            "COMPLETION",
            "MESSAGE",
        ],
        &rows,
    )
}

/// The provider of an item, an ad-hoc one marked.
fn provider_text(item: &RunItemView) -> String {
    match &item.provider_id {
        Some(provider) if item.adhoc => format!("{provider} (ad-hoc)"),
        Some(provider) => s(provider),
        None => "-".into(),
    }
}

/// The model of an item: the recorded correction, else the hint → the canonical model.
fn model_text(item: &RunItemView) -> String {
    if let Some(correction) = &item.model_correction {
        return s(correction);
    }
    match (&item.model_hint, &item.canonical_model) {
        (Some(hint), Some(model)) if hint != model => format!("{hint} → {model}"),
        (_, Some(model)) => s(model),
        (Some(hint), None) => format!("{hint} → -"),
        (None, None) => "-".into(),
    }
}

/// A run's items as a table (the item id is what `events` takes), then per line the reuse
/// reasons and warnings.
fn items_text(items: &[RunItemView]) -> String {
    if items.is_empty() {
        return "no item\n".into();
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|i| {
            vec![
                i.line.to_string(),
                s(&i.item_id),
                s(&i.mask),
                provider_text(i),
                model_text(i),
                opt(i.reuse_decision),
                opt(i.account_id),
                i.state.to_string(),
                i.confirmation_status.to_string(),
                i.attempts.to_string(),
                opt(i.last_error.as_deref()),
            ]
        })
        .collect();
    let mut out = render_table(
        &[
            "LINE",
            "ITEM",
            "KEY",
            "PROVIDER",
            "MODEL",
            "REUSE",
            "ACCOUNT",
            "STATE",
            "CONFIRMATION",
            "ATTEMPTS",
            "LAST_ERROR",
        ],
        &rows,
    );
    let mut notes = Vec::new();
    for item in items {
        if let (Some(decision), Some(reason)) = (item.reuse_decision, &item.reuse_reason) {
            notes.push(format!("line {}: {decision}: {reason}", item.line));
        }
        for warning in &item.warnings {
            notes.push(format!("line {}: warning: {warning}", item.line));
        }
    }
    if !notes.is_empty() {
        out.push_str("\nnotes:\n");
        for note in notes {
            out.push_str(&format!("  {note}\n"));
        }
    }
    out
}

fn events_table(list: &RunItemEventList) -> String {
    if list.events.is_empty() {
        return "no event\n".into();
    }
    let rows: Vec<Vec<String>> = list
        .events
        .iter()
        .map(|e| {
            vec![
                at(e.at),
                e.kind.to_string(),
                opt(e.attempt),
                opt(e.answer_class),
                opt(e.decision.as_deref()),
                opt(e.message.as_deref()),
            ]
        })
        .collect();
    render_table(
        &["TIME", "KIND", "ATTEMPT", "ANSWER", "DECISION", "MESSAGE"],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::typed;
    use serde_json::json;

    fn item(over: Value) -> RunItemView {
        typed(crate::fixtures::with(
            json!({
                "item_id": "item-1", "run_id": "run-1", "line": 1,
                "base_url": "https://api.moonshot.cn/v1", "fingerprint": "ab".repeat(32),
                "mask": "sk-m…0001", "provider_id": "moonshot", "adhoc": false,
                "model_hint": "kimi 2.6", "canonical_model": "kimi-k2.6",
                "model_correction": "\"kimi 2.6\" → \"kimi-k2.6\" (alias)", "profile": null,
                "reuse_decision": "created", "reuse_reason": "no earlier account",
                "account_id": 7, "state": "succeeded", "confirmation_status": "confirmed",
                "access_status": "subscription_ready", "attempts": 2, "next_retry_at": 0,
                "lease_owner": null, "lease_until": null, "last_error": null,
                "warnings": [], "key_held": false, "created_at": 0, "updated_at": 3_723_000
            }),
            over,
        ))
    }

    #[test]
    fn keys_are_the_first_field_that_is_not_a_url() {
        let text = "\u{feff}# paste\nhttps://api.deepseek.com sk-one-1111\n\n\
                    sk-two-2222 https://api.moonshot.cn/v1 kimi 2.6\n\
                    https://x.example/v1,key three 3333,model a\n  \n#sk-not-a-line\n\
                    https://only-a-url.example\n";
        assert_eq!(
            line_keys(text),
            ["sk-one-1111", "sk-two-2222", "key three 3333"]
        );
    }

    #[test]
    fn numeric_subscribers_are_user_ids() {
        let got = subscribers(
            &[("alice@example.com".into(), None), ("42".into(), Some(30))],
            &[(7, Some(3))],
        );
        let ids: Vec<(Option<&str>, Option<i64>, Option<u32>)> = got
            .iter()
            .map(|s| (s.email.as_deref(), s.user_id, s.validity_days))
            .collect();
        assert_eq!(
            ids,
            [
                (Some("alice@example.com"), None, None),
                (None, Some(42), Some(30)),
                (None, Some(7), Some(3))
            ]
        );
    }

    #[test]
    fn models_show_the_correction_or_the_hint() {
        assert_eq!(
            model_text(&item(json!({}))),
            "\"kimi 2.6\" → \"kimi-k2.6\" (alias)"
        );
        assert_eq!(
            model_text(&item(json!({"model_correction": null}))),
            "kimi 2.6 → kimi-k2.6"
        );
        assert_eq!(
            model_text(&item(
                json!({"model_correction": null, "model_hint": "kimi-k2.6"})
            )),
            "kimi-k2.6"
        );
        assert_eq!(
            model_text(&item(
                json!({"model_correction": null, "canonical_model": null})
            )),
            "kimi 2.6 → -"
        );
        assert_eq!(
            provider_text(&item(
                json!({"provider_id": "adhoc-x-example", "adhoc": true})
            )),
            "adhoc-x-example (ad-hoc)"
        );
    }

    #[test]
    fn a_change_line_names_what_moved() {
        let before = Seen::of(&item(json!({
            "state": "running", "confirmation_status": "confirming", "attempts": 1,
            "reuse_decision": null, "account_id": null
        })));
        let line = change_line(&item(json!({})), Some(&before));
        assert_eq!(
            line,
            "01:02:03Z line 1 sk-m…0001 moonshot: running → succeeded (confirmation \
             confirming → confirmed, created, account 7, attempts 2)"
        );
        let first = change_line(
            &item(
                json!({"state": "failed", "confirmation_status": "failed_confirmation",
                         "last_error": "gave up after 5 attempts"}),
            ),
            None,
        );
        assert!(
            first.ends_with(
                "moonshot: failed (confirmation failed_confirmation, created, account 7, \
                 attempts 2, last error: gave up after 5 attempts)"
            ),
            "{first}"
        );
    }

    #[test]
    fn every_page_follows_the_cursor_once() {
        let mut asked = Vec::new();
        let rows = every_page(None, |cursor| {
            asked.push(cursor.map(str::to_owned));
            Ok(match cursor {
                None => (vec![1, 2], Some("c1".to_owned())),
                Some("c1") => (vec![3], Some("c2".to_owned())),
                // A server that answers a cursor it gave before does not loop us.
                _ => (vec![4], Some("c1".to_owned())),
            })
        })
        .unwrap();
        assert_eq!(rows, [1, 2, 3, 4]);
        assert_eq!(asked, [None, Some("c1".to_owned()), Some("c2".to_owned())]);
    }
}
