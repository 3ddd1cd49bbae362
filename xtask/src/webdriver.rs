//! A small WebDriver (W3C) client for `chromedriver`, spoken over HTTP with ureq:
//! enough to drive a headless Chromium through the web console.

use anyhow::{bail, Context, Result};
use base64::Engine;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The W3C key of an element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// An executable found on the `PATH` (or named by the environment variable `env`).
pub fn find_program(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env).map(PathBuf::from) {
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// A running `chromedriver`, killed when dropped.
#[derive(Debug)]
pub struct Driver {
    child: Child,
    base: String,
    agent: ureq::Agent,
}

impl Driver {
    /// Starts `chromedriver` on a free loopback port and waits until it is ready.
    pub fn start(program: &Path, log: &Path) -> Result<Driver> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let log_file = std::fs::File::create(log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let child = Command::new(program)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log_file.try_clone()?))
            .stderr(Stdio::from(log_file))
            .spawn()
            .with_context(|| format!("cannot start {}", program.display()))?;
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        let driver = Driver {
            child,
            base: format!("http://127.0.0.1:{port}"),
            agent,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(v) = driver.call("GET", "/status", None) {
                if v["ready"] == true {
                    return Ok(driver);
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "chromedriver is not ready after 30 s (log: {})",
                    log.display()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// One WebDriver command: its `value`, or the driver's error.
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        let resp = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            ("DELETE", _) => self.agent.delete(&url).call(),
            (_, Some(b)) => self.agent.post(&url).send_json(b),
            (_, None) => self.agent.post(&url).send_json(json!({})),
        }
        .with_context(|| format!("WebDriver {method} {path}"))?;
        let status = resp.status().as_u16();
        let text = resp
            .into_body()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_string()?;
        let v: Value = serde_json::from_str(&text)
            .with_context(|| format!("WebDriver {method} {path}: not JSON"))?;
        if status >= 400 {
            bail!(
                "WebDriver {method} {path}: {status} {} {}",
                v["value"]["error"],
                v["value"]["message"]
                    .as_str()
                    .unwrap_or("")
                    .lines()
                    .next()
                    .unwrap_or("")
            );
        }
        Ok(v["value"].clone())
    }

    /// Opens a headless Chromium session.
    pub fn session(&self, chromium: &Path, profile_dir: &Path) -> Result<Session<'_>> {
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium.display().to_string(),
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--window-size=1280,900", "--disable-dev-shm-usage",
                    "--no-first-run", "--no-default-browser-check",
                    "--disable-extensions", "--disable-background-networking",
                    format!("--user-data-dir={}", profile_dir.display()),
                ],
            },
        }}});
        let v = self.call("POST", "/session", Some(&caps))?;
        let id = v["sessionId"]
            .as_str()
            .context("chromedriver answered no session id")?
            .to_string();
        Ok(Session { driver: self, id })
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A browser session; closed when dropped.
#[derive(Debug)]
pub struct Session<'d> {
    driver: &'d Driver,
    id: String,
}

/// An element of the page.
#[derive(Debug, Clone)]
pub struct Element(String);

impl Session<'_> {
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        self.driver
            .call(method, &format!("/session/{}{path}", self.id), body)
    }

    /// Navigates to `url`.
    pub fn goto(&self, url: &str) -> Result<()> {
        self.call("POST", "/url", Some(&json!({ "url": url })))
            .map(|_| ())
    }

    /// The page's current URL.
    pub fn url(&self) -> Result<String> {
        Ok(self
            .call("GET", "/url", None)?
            .as_str()
            .unwrap_or("")
            .to_string())
    }

    /// The first element matching the CSS selector.
    pub fn find(&self, css: &str) -> Result<Element> {
        let v = self.call(
            "POST",
            "/element",
            Some(&json!({"using": "css selector", "value": css})),
        )?;
        let id = v[ELEMENT_KEY]
            .as_str()
            .with_context(|| format!("no element reference for {css}: {v}"))?;
        Ok(Element(id.to_string()))
    }

    /// Clicks an element.
    pub fn click(&self, e: &Element) -> Result<()> {
        self.call("POST", &format!("/element/{}/click", e.0), None)
            .map(|_| ())
    }

    /// Clicks the first element matching `css`.
    pub fn click_css(&self, css: &str) -> Result<()> {
        let e = self.find(css)?;
        self.click(&e)
    }

    /// Types `text` into an element (as key strokes).
    pub fn type_into(&self, css: &str, text: &str) -> Result<()> {
        let e = self.find(css)?;
        self.call(
            "POST",
            &format!("/element/{}/value", e.0),
            Some(&json!({ "text": text })),
        )
        .map(|_| ())
    }

    /// The visible text of the first element matching `css`.
    pub fn text(&self, css: &str) -> Result<String> {
        let e = self.find(css)?;
        Ok(self
            .call("GET", &format!("/element/{}/text", e.0), None)?
            .as_str()
            .unwrap_or("")
            .to_string())
    }

    /// Runs `script` (a function body) in the page with `args`; its return value.
    pub fn script(&self, script: &str, args: Value) -> Result<Value> {
        self.call(
            "POST",
            "/execute/sync",
            Some(&json!({"script": script, "args": args})),
        )
    }

    /// True when an element matches `css` and is shown.
    pub fn shown(&self, css: &str) -> Result<bool> {
        let v = self.script(
            "const e = document.querySelector(arguments[0]); \
             return !!e && e.offsetParent !== null && !e.closest('[hidden]');",
            json!([css]),
        )?;
        Ok(v == true)
    }

    /// Waits up to `limit` for `check` to give `Some`; polls every 150 ms.
    pub fn wait_for<T>(
        &self,
        what: &str,
        limit: Duration,
        mut check: impl FnMut(&Self) -> Result<Option<T>>,
    ) -> Result<T> {
        let deadline = Instant::now() + limit;
        let mut last_error = None;
        loop {
            match check(self) {
                Ok(Some(v)) => return Ok(v),
                Ok(None) => {}
                Err(e) => last_error = Some(e),
            }
            if Instant::now() > deadline {
                let detail = last_error
                    .map(|e| format!(" (last error: {e:#})"))
                    .unwrap_or_default();
                bail!(
                    "timed out after {}s waiting for {what}{detail}",
                    limit.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    /// Waits until an element matching `css` is shown.
    pub fn wait_shown(&self, css: &str, limit: Duration) -> Result<()> {
        self.wait_for(&format!("{css} to be shown"), limit, |s| {
            Ok(s.shown(css)?.then_some(()))
        })
    }

    /// Every cookie of the current page, as the browser holds it (also `HttpOnly` ones).
    pub fn cookies(&self) -> Result<Vec<Value>> {
        Ok(self
            .call("GET", "/cookie", None)?
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// Saves a PNG screenshot of the window to `path`.
    pub fn screenshot(&self, path: &Path) -> Result<()> {
        let v = self.call("GET", "/screenshot", None)?;
        let data = v.as_str().context("the screenshot is not a string")?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data)
            .context("the screenshot is not base64")?;
        if !png.starts_with(b"\x89PNG") {
            bail!("the screenshot is not a PNG");
        }
        std::fs::write(path, png).with_context(|| format!("cannot write {}", path.display()))
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        let _ = self
            .driver
            .call("DELETE", &format!("/session/{}", self.id), None);
    }
}
