//! `cargo xtask console-test`: the web console in a real headless Chromium.
//!
//! Starts the mock host and the server (debug build) on loopback, registers the host
//! and installs the bundled pack through the API, then drives Chromium through
//! `chromedriver` (WebDriver, [`crate::webdriver`]):
//!
//! 1. opens `/console`, is refused with a wrong token, signs in;
//! 2. creates a run from pasted lines (three good demo keys for DeepSeek and Moonshot,
//!    one with the hint `kimi 2.6`, and a key the mock's vendors refuse), watches it
//!    end `partially_succeeded` (3 succeeded, 1 failed) with its access proof, opens
//!    the refused line's event trail, and sees *Retry failed* not offered (the refused
//!    line has no account and no key left);
//! 3. with a warm-up on the mock host longer than the server's confirmation window,
//!    creates a second run that ends `failed` on confirmation (503 attempts in the
//!    trail), retries it through the dialog, sees the item and the run back at work
//!    (`pending`/`running`, `retried` in the trail) and then `succeeded`;
//! 4. pastes a line with markup as its model hint and sees it shown as text;
//! 5. cancels a run through the dialog while its item is at work (`cancelled`);
//! 6. finds the runs in the run list, searches one, and signs out (the API then
//!    answers `401`).
//!
//! It asserts on what the page shows (states, counts, trail entries), that the page
//! never holds the token (not in the document, the URL or a script-readable cookie),
//! that the browser keeps the session cookie `HttpOnly` and `SameSite=Strict` and drops
//! it at sign-out, and that neither the token nor the session id reaches the server log.
//!
//! A screenshot of each page is saved to `target/console-shots/` (`sign-in.png`,
//! `new-run.png`, `run-detail.png`, `item-trail.png`, `retry.png`, `runs.png`).
//!
//! Needs `chromium` and `chromedriver` (Debian: `apt-get install chromium
//! chromium-driver`; or name them with `CHROMIUM` / `CHROMEDRIVER`). Without them the
//! test says why and is skipped, except under `CI=true`, where it fails unless
//! `RELAY_SKIP_BROWSER_TEST` gives the reason they could not be installed (`.ci/run`
//! sets it when its install fails).

use crate::http::{Client, Reply};
use crate::procs::{self, Profile};
use crate::webdriver::{find_program, Driver, Session};
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const TOKEN: &str = "console-test-operator-token-4b9e2d7a1c";

/// The pasted lines: the demo's DeepSeek keys (two base URL spellings), a Moonshot
/// key with a model hint to correct, and a key the mock's vendors refuse (it contains
/// `invalid`).
const GOOD_KEYS: usize = 3;
fn lines() -> String {
    [
        "https://api.deepseek.com sk-demo-0a1b2c3d4e5f60718293a4b5c6d7e8f9",
        "https://api.deepseek.com/v1 sk-demo-1b2c3d4e5f60718293a4b5c6d7e8f90a",
        "https://api.moonshot.cn/v1 sk-demo-2c3d4e5f60718293a4b5c6d7e8f90a1b kimi 2.6",
        "https://api.deepseek.com sk-demo-invalid-3d4e5f60718293a4b5c6d7e8f90a",
    ]
    .join("\n")
}

/// A fifth demo key, for the run that meets a long warm-up.
const WARMUP_LINE: &str = "https://api.deepseek.com/v1 sk-demo-4e5f60718293a4b5c6d7e8f90a1b2c3d";

/// A line whose base URL no provider serves, with markup as its model hint: the page
/// must show it as text.
const MARKUP_LINE: &str =
    "https://unknown.example/v1 sk-demo-5f60718293a4b5c6d7e8f90a1b2c3d4e <img src=x onerror=window.__markup=1>";

/// A sixth demo key, for the run cancelled while its item is at work.
const CANCEL_LINE: &str = "https://api.deepseek.com sk-demo-6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3";

const ENDED: &[&str] = &["succeeded", "partially_succeeded", "failed", "cancelled"];
const WORKING: &[&str] = &["pending", "running"];

/// How long a run may take to end.
const RUN_LIMIT: Duration = Duration::from_secs(240);
/// How long a page may take to show something.
const PAGE_LIMIT: Duration = Duration::from_secs(20);

/// Chromium and chromedriver, when both are installed.
pub fn tools() -> Option<(PathBuf, PathBuf)> {
    let chromium = find_program(
        "CHROMIUM",
        &["chromium", "chromium-browser", "google-chrome"],
    )?;
    let driver = find_program("CHROMEDRIVER", &["chromedriver"])?;
    Some((chromium, driver))
}

/// True when the browser test can run here.
pub fn available() -> bool {
    tools().is_some()
}

fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Runs the browser test (see the module documentation).
pub fn run(_args: &[String]) -> Result<()> {
    let Some((chromium, chromedriver)) = tools() else {
        let why = "chromium and chromedriver are not both installed \
                   (apt-get install chromium chromium-driver)";
        if under_ci() {
            match std::env::var("RELAY_SKIP_BROWSER_TEST") {
                Ok(reason) if !reason.trim().is_empty() => {
                    eprintln!("==> SKIP console browser test: {why}; {reason}");
                    return Ok(());
                }
                _ => bail!("console browser test: {why}, and CI=true requires them"),
            }
        }
        eprintln!("==> SKIP console browser test: {why}");
        return Ok(());
    };
    let started = Instant::now();
    let bin = procs::build_binaries(Profile::Debug)?;
    let dir = procs::fresh_dir("console-test")?;
    let shots = procs::fresh_dir("console-shots")?;
    let (mock, server, mock_settings) = procs::start_mock_and_server(
        &bin,
        &dir,
        TOKEN,
        &[
            ("RELAY_WARMUP_SECS", "5"),
            // A short confirmation window with quick retries: the second run
            // meets a warm-up longer than it.
            ("RELAY_CONFIRM_WINDOW_SECS", "10"),
            ("RELAY_CONFIRM_BACKOFF_MS", "500"),
        ],
    )?;
    let api = Client::new(&server.base_url, Some(TOKEN));
    let host = api.post(
        "/api/hosts",
        &json!({"name": "console-demo", "base_url": mock.base_url,
                "auth": {"kind": "api_key", "api_key": mock_settings.admin_api_key}}),
    )?;
    expect(&host, 201, "register the host")?;
    let pack = api.post("/api/packs/install", &json!({"path": "openai-cn-pack"}))?;
    expect(&pack, 201, "install the pack")?;

    let driver = Driver::start(&chromedriver, &dir.join("chromedriver.log"))?;
    let browser = driver.session(&chromium, &dir.join("chromium-profile"))?;
    let outcome = drive(
        &browser,
        &server.base_url,
        &mock.base_url,
        &shots,
        &server.log_path,
    );
    if outcome.is_err() {
        let _ = browser.screenshot(&shots.join("failure.png"));
    }
    outcome.with_context(|| {
        format!(
            "console browser test failed (server log {}, screenshots {})",
            server.log_path.display(),
            shots.display()
        )
    })?;
    drop(browser);
    eprintln!(
        "==> console browser test passed in {:.1}s; screenshots in {}",
        started.elapsed().as_secs_f64(),
        shots.display()
    );
    Ok(())
}

fn expect(reply: &Reply, status: u16, what: &str) -> Result<()> {
    if reply.status != status {
        bail!(
            "console test setup: {what}: expected {status}, got {} {}",
            reply.status,
            reply.body
        );
    }
    Ok(())
}

fn step(text: &str) {
    eprintln!("--> {text}");
}

/// The run's state as the page shows it.
fn run_state(b: &Session<'_>) -> Result<String> {
    b.text("[data-testid=run-state]")
}

fn count(b: &Session<'_>, name: &str) -> Result<u64> {
    let text = b.text(&format!("[data-testid=count-{name}]"))?;
    text.trim()
        .parse()
        .with_context(|| format!("count {name} shows {text:?}"))
}

/// Every item row as `(item_id, line, state)`.
fn item_rows(b: &Session<'_>) -> Result<Vec<(String, u64, String)>> {
    let v = b.script(
        "return [...document.querySelectorAll('[data-testid=item-row]')].map(r => [\
           r.getAttribute('data-item-id'), Number(r.getAttribute('data-line')),\
           r.querySelector('[data-testid=item-state]').textContent]);",
        json!([]),
    )?;
    let rows = v.as_array().context("item rows")?;
    Ok(rows
        .iter()
        .map(|r| {
            (
                r[0].as_str().unwrap_or("").to_string(),
                r[1].as_u64().unwrap_or(0),
                r[2].as_str().unwrap_or("").to_string(),
            )
        })
        .collect())
}

/// The page holds no copy of the token: not in the document, not in the URL, and the
/// session cookie is out of the script's reach (`HttpOnly`).
fn assert_no_token_in_page(b: &Session<'_>) -> Result<()> {
    let v = b.script(
        "return {html: document.documentElement.outerHTML.includes(arguments[0]),\
                 url: location.href.includes(arguments[0]),\
                 cookie: document.cookie,\
                 field: document.getElementById('signin-token').value};",
        json!([TOKEN]),
    )?;
    if v["html"] != false || v["url"] != false {
        bail!("the page holds the operator token: {v}");
    }
    if v["cookie"] != "" {
        bail!("a script can read cookies of the console: {}", v["cookie"]);
    }
    if v["field"] != "" {
        bail!("the sign-in field still holds the token");
    }
    Ok(())
}

fn drive(b: &Session<'_>, base: &str, mock: &str, shots: &Path, server_log: &Path) -> Result<()> {
    step("open /console and sign in");
    b.goto(&format!("{base}/console"))?;
    b.wait_shown("[data-testid=page-signin]", PAGE_LIMIT)?;
    if !b.url()?.ends_with("/console/") {
        bail!("/console did not lead to /console/: {}", b.url()?);
    }
    // A wrong token is refused, on the page.
    b.type_into("[data-testid=signin-token]", "not-the-operator-token")?;
    b.click_css("[data-testid=signin-submit]")?;
    b.wait_for("the wrong-token message", PAGE_LIMIT, |b| {
        let t = b.text("[data-testid=signin-error]")?;
        Ok(t.contains("Wrong operator token").then_some(()))
    })?;
    b.type_into("[data-testid=signin-token]", TOKEN)?;
    b.screenshot(&shots.join("sign-in.png"))?;
    b.click_css("[data-testid=signin-submit]")?;
    b.wait_shown("[data-testid=page-runs]", PAGE_LIMIT)?;
    assert_no_token_in_page(b)?;
    // The session cookie as the browser keeps it.
    let cookie = b
        .cookies()?
        .into_iter()
        .find(|c| c["name"] == "relay_console")
        .context("the browser holds no relay_console cookie")?;
    if cookie["httpOnly"] != true || cookie["sameSite"] != "Strict" || cookie["path"] != "/" {
        bail!(
            "the session cookie lacks its flags: httpOnly {}, sameSite {}, path {}",
            cookie["httpOnly"],
            cookie["sameSite"],
            cookie["path"]
        );
    }
    let session = cookie["value"].as_str().unwrap_or("").to_string();
    if session.len() != 64 || session.contains(TOKEN) {
        bail!("the session cookie is not a 256-bit random id");
    }

    step("new run from pasted lines");
    b.click_css("[data-testid=nav-new]")?;
    b.wait_shown("[data-testid=page-new]", PAGE_LIMIT)?;
    b.wait_for("the host list", PAGE_LIMIT, |b| {
        let n = b.script(
            "return document.getElementById('new-host').options.length;",
            json!([]),
        )?;
        Ok((n.as_u64() == Some(1)).then_some(()))
    })?;
    let host = b.text("#new-host option")?;
    if !host.starts_with("console-demo") {
        bail!("the host select shows {host:?}");
    }
    b.type_into("[data-testid=new-lines]", &lines())?;
    b.screenshot(&shots.join("new-run.png"))?;
    b.click_css("[data-testid=new-submit]")?;
    b.wait_shown("[data-testid=page-run]", PAGE_LIMIT)?;
    let run_id = b.wait_for("the run id", PAGE_LIMIT, |b| {
        let id = b.text("[data-testid=run-id]")?;
        Ok(id.starts_with("run").then_some(id))
    })?;
    let url = b.url()?;
    if !url.ends_with(&format!("#/runs/{run_id}")) {
        bail!("after creation the page is {url}, not the run");
    }
    // The pasted keys left the page.
    let left = b.script(
        "return document.getElementById('new-lines').value;",
        json!([]),
    )?;
    if left != "" {
        bail!("the pasted lines stayed in the form");
    }

    step(&format!("watch {run_id} until it ends"));
    let state = b.wait_for("the run to end", RUN_LIMIT, |b| {
        let s = run_state(b)?;
        Ok(ENDED.contains(&s.as_str()).then_some(s))
    })?;
    let total = count(b, "total")?;
    let succeeded = count(b, "succeeded")?;
    let failed = count(b, "failed")?;
    eprintln!("    {run_id}: {state}, {succeeded} succeeded, {failed} failed of {total}");
    if (state.as_str(), total, succeeded, failed) != ("partially_succeeded", 4, GOOD_KEYS as u64, 1)
    {
        bail!(
            "the run ended {state} with {succeeded} succeeded and {failed} failed of {total}; \
             expected partially_succeeded, {GOOD_KEYS} and 1 of 4"
        );
    }
    if count(b, "open")? != 0 {
        bail!("an ended run shows open items");
    }
    let rows = item_rows(b)?;
    if rows.len() != 4 {
        bail!("the page shows {} item rows, not 4", rows.len());
    }
    // The final access proof is shown per provider.
    b.wait_shown("[data-testid=access-table]", PAGE_LIMIT)?;
    let access = b.text("[data-testid=access-body]")?;
    if !access.contains("deepseek") {
        bail!("the access proof does not name deepseek: {access:?}");
    }
    let models = b.text("[data-testid=items-body]")?;
    if !models.contains("kimi 2.6") {
        bail!("the model hint of line 3 is not shown: {models:?}");
    }
    b.screenshot(&shots.join("run-detail.png"))?;

    step("open the failed item's event trail");
    let (failed_id, failed_line, _) = rows
        .iter()
        .find(|(_, _, s)| s == "failed")
        .cloned()
        .context("no failed item row")?;
    if failed_line != 4 {
        bail!("line {failed_line} failed, not line 4 (the refused key)");
    }
    b.click_css(&format!("tr[data-item-id=\"{failed_id}\"]"))?;
    b.wait_shown("[data-testid=trail]", PAGE_LIMIT)?;
    let kinds = b.wait_for("the trail entries", PAGE_LIMIT, |b| {
        let v = b.script(
            "return [...document.querySelectorAll('[data-testid=trail-kind]')]\
               .map(e => e.textContent);",
            json!([]),
        )?;
        let kinds: Vec<String> = v
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|k| k.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        Ok(kinds.iter().any(|k| k == "failed").then_some(kinds))
    })?;
    eprintln!("    trail of line 4: {}", kinds.join(", "));
    if b.text("[data-testid=trail-line]")? != "4" {
        bail!("the trail is not line 4's");
    }
    b.screenshot(&shots.join("item-trail.png"))?;

    // The refused line has no account and no key left: nothing a retry could move,
    // and the page says so instead of offering it.
    let retry = b.script(
        "const b = document.getElementById('action-retry-failed');\
         return [b.disabled, b.getAttribute('title') || ''];",
        json!([]),
    )?;
    if retry[0] != true
        || !retry[1]
            .as_str()
            .unwrap_or("")
            .contains("paste their lines again")
    {
        bail!("Retry failed is offered for a line whose key is gone: {retry}");
    }

    step("a run whose confirmation outlasts its window, then retried");
    // The mock's gateway answers 503 "no available accounts" for the group of an
    // account created less than ten minutes ago: longer than the confirmation window.
    let mock_api = Client::new(mock, None);
    let faults = mock_api.post("/__mock/faults", &json!({"warmup_ms": 600_000}))?;
    expect(&faults, 200, "a long warm-up on the mock host")?;
    b.click_css("[data-testid=nav-new]")?;
    b.wait_shown("[data-testid=page-new]", PAGE_LIMIT)?;
    b.type_into("[data-testid=new-lines]", WARMUP_LINE)?;
    let created = Instant::now();
    b.click_css("[data-testid=new-submit]")?;
    let warm_run = b.wait_for("the second run", PAGE_LIMIT, |b| {
        let id = b.text("[data-testid=run-id]")?;
        Ok((id.starts_with("run") && id != run_id).then_some(id))
    })?;
    let state = b.wait_for("the second run to end", RUN_LIMIT, |b| {
        let s = run_state(b)?;
        Ok(ENDED.contains(&s.as_str()).then_some(s))
    })?;
    let rows = item_rows(b)?;
    let (item_id, _, item_state) = rows.first().cloned().context("no item row")?;
    let confirmation = b.text("[data-testid=item-confirmation]")?;
    eprintln!("    {warm_run}: {state}; its item {item_state}, confirmation {confirmation}");
    if (state.as_str(), item_state.as_str(), confirmation.as_str())
        != ("failed", "failed", "failed_confirmation")
    {
        bail!("expected the run and its item failed on confirmation");
    }
    b.click_css(&format!("tr[data-item-id=\"{item_id}\"]"))?;
    b.wait_shown("[data-testid=trail]", PAGE_LIMIT)?;
    b.wait_for("503 attempts in the trail", PAGE_LIMIT, |b| {
        let t = b.text("[data-testid=trail-body]")?;
        Ok(
            (t.contains("no_available_accounts_503") && t.contains("retry_scheduled"))
                .then_some(()),
        )
    })?;
    // The warm-up now ends about 4 s from here, inside the retried item's new
    // confirmation window (10 s, attempts after 0.5, 1, 2, 4 s): it works through it.
    let until = created.elapsed() + Duration::from_secs(4);
    let faults = mock_api.post(
        "/__mock/faults",
        &json!({"warmup_ms": until.as_millis() as u64}),
    )?;
    expect(&faults, 200, "shorten the mock's warm-up")?;
    confirm_action(b, "[data-testid=action-retry-failed]", &warm_run)?;
    b.wait_for("the retry result", PAGE_LIMIT, |b| {
        let t = b.text("[data-testid=action-result]")?;
        Ok(t.contains("1 item(s) moved back to pending").then_some(()))
    })?;
    let back = b.wait_for("the retried item at work", PAGE_LIMIT, |b| {
        let state = item_rows(b)?
            .into_iter()
            .find(|(id, _, _)| *id == item_id)
            .map(|(_, _, s)| s)
            .unwrap_or_default();
        Ok(WORKING.contains(&state.as_str()).then_some(state))
    })?;
    let run_now = run_state(b)?;
    eprintln!("    after the retry: run {run_now}, item {back}");
    if !WORKING.contains(&run_now.as_str()) {
        bail!("after the retry the run shows {run_now}, not pending or running");
    }
    let trail = b.text("[data-testid=trail-body]")?;
    if !trail.contains("retried") {
        bail!("the trail does not show the retry: {trail:?}");
    }
    b.script("window.scrollTo(0, 0);", json!([]))?;
    b.screenshot(&shots.join("retry.png"))?;
    let state = b.wait_for("the retried run to end", RUN_LIMIT, |b| {
        let s = run_state(b)?;
        Ok(ENDED.contains(&s.as_str()).then_some(s))
    })?;
    let confirmation = b.text("[data-testid=item-confirmation]")?;
    eprintln!("    {warm_run} after the warm-up: {state}, confirmation {confirmation}");
    if (state.as_str(), confirmation.as_str()) != ("succeeded", "confirmed") {
        bail!("the retried run ended {state} with its item {confirmation}");
    }

    step("markup in a pasted line stays text");
    b.click_css("[data-testid=nav-new]")?;
    b.wait_shown("[data-testid=page-new]", PAGE_LIMIT)?;
    b.type_into("[data-testid=new-lines]", MARKUP_LINE)?;
    b.click_css("[data-testid=new-submit]")?;
    let markup_run = b.wait_for("the third run", PAGE_LIMIT, |b| {
        let id = b.text("[data-testid=run-id]")?;
        Ok((id.starts_with("run") && id != run_id && id != warm_run).then_some(id))
    })?;
    b.wait_for("the third run to end", RUN_LIMIT, |b| {
        let s = run_state(b)?;
        Ok(ENDED.contains(&s.as_str()).then_some(s))
    })?;
    let shown = b.text("[data-testid=items-body]")?;
    let injected = b.script(
        "return [typeof window.__markup, \
                 document.querySelectorAll('#items-body img, #items-body b').length];",
        json!([]),
    )?;
    eprintln!(
        "    {markup_run}: the line shows as {:?}",
        shown.lines().next().unwrap_or("")
    );
    if !shown.contains("<img src=x onerror=window.__markup=1>")
        || injected != json!(["undefined", 0])
    {
        bail!("markup from a pasted line reached the page as HTML: {injected} / {shown:?}");
    }

    step("cancel a run while its item is at work");
    // Slow account tests keep the item at work long enough to cancel it.
    let faults = mock_api.post("/__mock/faults", &json!({"account_test_latency_ms": 8000}))?;
    expect(&faults, 200, "slow the mock's account tests")?;
    b.click_css("[data-testid=nav-new]")?;
    b.wait_shown("[data-testid=page-new]", PAGE_LIMIT)?;
    b.type_into("[data-testid=new-lines]", CANCEL_LINE)?;
    b.click_css("[data-testid=new-submit]")?;
    let cancel_run = b.wait_for("the fourth run", PAGE_LIMIT, |b| {
        let id = b.text("[data-testid=run-id]")?;
        Ok(
            (id.starts_with("run") && ![&run_id, &warm_run, &markup_run].contains(&&id))
                .then_some(id),
        )
    })?;
    b.wait_for("its item at work", PAGE_LIMIT, |b| {
        let running = item_rows(b)?
            .first()
            .is_some_and(|(_, _, s)| s == "running");
        Ok((running && run_state(b)? == "running").then_some(()))
    })?;
    confirm_action(b, "[data-testid=action-cancel]", &cancel_run)?;
    let (state, item) = b.wait_for("the run cancelled", PAGE_LIMIT, |b| {
        let state = run_state(b)?;
        let item = item_rows(b)?
            .first()
            .map(|(_, _, s)| s.clone())
            .unwrap_or_default();
        Ok((state == "cancelled" && item == "cancelled").then_some((state, item)))
    })?;
    eprintln!("    {cancel_run}: {state}, its item {item}");
    if b.text("[data-testid=action-result]")? != "Cancelled." {
        bail!("the page does not confirm the cancel");
    }
    let faults = mock_api.post("/__mock/faults", &json!({"account_test_latency_ms": 0}))?;
    expect(&faults, 200, "restore the mock's account tests")?;

    step("the runs in the run list");
    b.click_css("[data-testid=nav-runs]")?;
    b.wait_shown("[data-testid=page-runs]", PAGE_LIMIT)?;
    for id in [&run_id, &warm_run] {
        let row = format!("tr[data-run-id=\"{id}\"]");
        b.wait_shown(&row, PAGE_LIMIT)?;
    }
    let listed = b.text(&format!(
        "tr[data-run-id=\"{run_id}\"] [data-testid=run-row-state]"
    ))?;
    if listed != "partially_succeeded" {
        bail!("the list shows {run_id} {listed}");
    }
    b.screenshot(&shots.join("runs.png"))?;
    let listed_ids = |b: &Session<'_>| -> Result<Value> {
        b.script(
            "return [...document.querySelectorAll('[data-testid=run-row]')]\
               .map(r => r.getAttribute('data-run-id'));",
            json!([]),
        )
    };
    // The state filter keeps the failed run only.
    b.click_css("#filter-state option[value=failed]")?;
    b.click_css("[data-testid=filter-apply]")?;
    b.wait_for("the state filter to keep one run", PAGE_LIMIT, |b| {
        Ok((listed_ids(b)? == json!([markup_run])).then_some(()))
    })?;
    // The search finds a run by its id.
    b.click_css("#filter-state option[value='']")?;
    b.type_into("[data-testid=filter-q]", &run_id)?;
    b.click_css("[data-testid=filter-apply]")?;
    b.wait_for("the search to keep one run", PAGE_LIMIT, |b| {
        Ok((listed_ids(b)? == json!([run_id])).then_some(()))
    })?;
    assert_no_token_in_page(b)?;

    step("sign out");
    b.click_css("[data-testid=sign-out]")?;
    b.wait_shown("[data-testid=page-signin]", PAGE_LIMIT)?;
    // WebDriver waits for a returned promise.
    let status = b.script(
        "return fetch('/api/hosts', {credentials: 'same-origin'}).then(r => r.status);",
        json!([]),
    )?;
    let status = status.as_u64().context("the API probe gave no status")?;
    if status != 401 {
        bail!("after sign-out the API answered {status}, not 401");
    }
    if b.cookies()?.iter().any(|c| c["name"] == "relay_console") {
        bail!("the session cookie outlived the sign-out");
    }
    // Neither the token nor the session id reached the server's log.
    let log = std::fs::read_to_string(server_log)
        .with_context(|| format!("cannot read {}", server_log.display()))?;
    if log.contains(TOKEN) || log.contains(&session) {
        bail!("the server log holds the operator token or the session id");
    }
    Ok(())
}

/// Clicks an action button, checks the confirmation dialog names `run_id`, confirms.
fn confirm_action(b: &Session<'_>, button: &str, run_id: &str) -> Result<()> {
    b.click_css(button)?;
    b.wait_for("the confirmation dialog", PAGE_LIMIT, |b| {
        let open = b.script("return document.getElementById('confirm').open;", json!([]))?;
        Ok((open == true).then_some(()))
    })?;
    let question = b.text("[data-testid=confirm-text]")?;
    if !question.contains(run_id) {
        bail!("the dialog does not name the run: {question:?}");
    }
    b.click_css("[data-testid=confirm-ok]")?;
    b.wait_for("the dialog to close", PAGE_LIMIT, |b| {
        let open = b.script("return document.getElementById('confirm').open;", json!([]))?;
        Ok((open == false).then_some(()))
    })
}
