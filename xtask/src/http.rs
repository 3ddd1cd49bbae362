//! A small JSON client for the relay server and the mock host's inspection API.

use anyhow::{Context, Result};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A JSON HTTP client with an optional bearer token.
#[derive(Debug, Clone)]
pub struct Client {
    agent: ureq::Agent,
    base: String,
    token: Option<String>,
    /// Every answer body is appended here as received (raw text, then each JSON
    /// string unescaped on its own line), for leak scans.
    tap: Option<PathBuf>,
}

/// A response: status and JSON body (or the text as a JSON string).
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Body.
    pub body: Value,
    /// Response headers (lowercase names), in the order received.
    pub headers: Vec<(String, String)>,
}

impl Client {
    /// A client of `base` (e.g. `http://127.0.0.1:18190`) whose requests give up
    /// after 15 minutes.
    pub fn new(base: &str, token: Option<&str>) -> Client {
        Client::with_timeout(base, token, Duration::from_secs(900))
    }

    /// A client of `base` whose requests give up after `timeout`.
    pub fn with_timeout(base: &str, token: Option<&str>, timeout: Duration) -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .build()
            .into();
        Client {
            agent,
            base: base.trim_end_matches('/').to_string(),
            token: token.map(str::to_string),
            tap: None,
        }
    }

    /// This client, appending every answer it reads to `path` (see [`Client::tap`]).
    pub fn tapped(mut self, path: &Path) -> Client {
        self.tap = Some(path.to_path_buf());
        self
    }

    /// Appends one answer to the tap file: a header line, the raw body, and every
    /// string of a JSON body unescaped (a secret with characters JSON escapes would
    /// not show in the raw text as it is).
    fn record(&self, what: &str, status: u16, text: &str) -> Result<()> {
        let Some(path) = &self.tap else {
            return Ok(());
        };
        let mut out = format!("=== {what} -> {status}\n{text}\n");
        if let Ok(v) = serde_json::from_str::<Value>(text) {
            collect_strings(&v, &mut out);
        }
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| f.write_all(out.as_bytes()))
            .with_context(|| format!("cannot append to {}", path.display()))
    }

    fn finish(
        &self,
        resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
        what: &str,
    ) -> Result<Reply> {
        let resp = resp.with_context(|| format!("{what} failed"))?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let text = resp
            .into_body()
            .with_config()
            .limit(256 * 1024 * 1024)
            .read_to_string()
            .with_context(|| format!("{what}: cannot read the body"))?;
        self.record(what, status, &text)?;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok(Reply {
            status,
            body,
            headers,
        })
    }

    /// Adds the bearer token (unless `headers` set `Authorization`) and `headers`.
    fn prepare<B>(
        &self,
        mut req: ureq::RequestBuilder<B>,
        headers: &[(&str, &str)],
    ) -> ureq::RequestBuilder<B> {
        let own_auth = headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("authorization"));
        if let (Some(t), false) = (&self.token, own_auth) {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Result<Reply> {
        self.get_with(path, &[])
    }

    /// `GET path` with extra headers.
    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Result<Reply> {
        self.send("GET", path, None, headers)
    }

    /// `POST path` with a JSON body.
    pub fn post(&self, path: &str, body: &Value) -> Result<Reply> {
        self.post_with(path, body, &[])
    }

    /// `POST path` with a JSON body and extra headers (they replace the bearer
    /// token when they set `Authorization`).
    pub fn post_with(&self, path: &str, body: &Value, headers: &[(&str, &str)]) -> Result<Reply> {
        self.send("POST", path, Some(body), headers)
    }

    /// `method path` with extra headers (they replace the bearer token when they set
    /// `Authorization`). `GET` and `DELETE` send no body; `POST`, `PUT` and `PATCH`
    /// send `body` as JSON (`{}` when absent).
    pub fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<Reply> {
        let url = format!("{}{path}", self.base);
        let what = format!("{method} {path}");
        let empty = Value::Object(Default::default());
        let body = body.unwrap_or(&empty);
        let resp = match method {
            "GET" => self.prepare(self.agent.get(&url), headers).call(),
            "DELETE" => self.prepare(self.agent.delete(&url), headers).call(),
            "POST" => self.prepare(self.agent.post(&url), headers).send_json(body),
            "PUT" => self.prepare(self.agent.put(&url), headers).send_json(body),
            "PATCH" => self
                .prepare(self.agent.patch(&url), headers)
                .send_json(body),
            other => anyhow::bail!("unsupported method {other}"),
        };
        self.finish(resp, &what)
    }
}

/// Every string (and object key) of `v`, one per line.
fn collect_strings(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => {
            out.push_str(s);
            out.push('\n');
        }
        Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        Value::Object(o) => {
            for (k, x) in o {
                out.push_str(k);
                out.push('\n');
                collect_strings(x, out);
            }
        }
        _ => {}
    }
}
