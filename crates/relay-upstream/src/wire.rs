//! The HTTP side: one `ureq` agent per profile (per-request wall-time limit, no
//! redirect followed, HTTP errors as data) and bounded reads of the answers.

use std::io::Read;
use std::time::{Duration, Instant};

use serde_json::Value;
use ureq::http::Response;
use ureq::{Agent, Body};

use crate::request::ProfileLimits;

/// One vendor answer, read to at most the body limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    pub status: u16,
    /// The `Content-Type` header, lowercase (empty when absent).
    pub content_type: String,
    /// The body read (lossy UTF-8).
    pub body: String,
    /// The body was longer than the limit and was cut.
    pub truncated: bool,
    /// Reading the body failed after the status arrived (timeout, reset).
    pub read_error: Option<String>,
}

/// Sends the profile's requests.
#[derive(Debug)]
pub(crate) struct Wire {
    agent: Agent,
    max_body: u64,
}

/// How much of a body to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadUntil {
    /// Up to the limit.
    Whole,
    /// Up to the first complete server-sent-event `data:` line (or the limit).
    FirstEvent,
}

impl Wire {
    pub(crate) fn new(limits: &ProfileLimits) -> Wire {
        let agent: Agent = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(limits.timeout))
            .max_redirects(0)
            .user_agent(concat!("relay-upstream/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Wire {
            agent,
            max_body: limits.max_body_bytes,
        }
    }

    /// `GET url` with `headers`.
    pub(crate) fn get(
        &self,
        url: &str,
        headers: &[(&str, &str)],
    ) -> (Result<Answer, String>, Duration) {
        let started = Instant::now();
        let mut req = self.agent.get(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let answer = req
            .call()
            .map_err(|e| e.to_string())
            .map(|mut r| self.read(&mut r, ReadUntil::Whole));
        (answer, started.elapsed())
    }

    /// `POST url` with `headers` and the JSON `body`.
    pub(crate) fn post(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: &Value,
        read: ReadUntil,
    ) -> (Result<Answer, String>, Duration) {
        let started = Instant::now();
        let mut req = self.agent.post(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let answer = req
            .send_json(body)
            .map_err(|e| e.to_string())
            .map(|mut r| self.read(&mut r, read));
        (answer, started.elapsed())
    }

    fn read(&self, resp: &mut Response<Body>, how: ReadUntil) -> Answer {
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        // A streamed answer is read only to its first event, whatever it says.
        let how = if content_type.contains("event-stream") {
            how
        } else {
            ReadUntil::Whole
        };
        let (bytes, truncated, read_error) = read_bounded(resp, self.max_body, how);
        Answer {
            status,
            content_type,
            body: String::from_utf8_lossy(&bytes).into_owned(),
            truncated,
            read_error,
        }
    }
}

fn read_bounded(
    resp: &mut Response<Body>,
    max: u64,
    how: ReadUntil,
) -> (Vec<u8>, bool, Option<String>) {
    let max = usize::try_from(max).unwrap_or(usize::MAX);
    let mut reader = resp.body_mut().as_reader();
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let room = (max + 1).saturating_sub(out.len()).min(chunk.len());
        match reader.read(&mut chunk[..room]) {
            Ok(0) => return (out, false, None),
            Ok(n) => {
                out.extend_from_slice(&chunk[..n]);
                if out.len() > max {
                    out.truncate(max);
                    return (out, true, None);
                }
                if how == ReadUntil::FirstEvent
                    && first_event(&String::from_utf8_lossy(&out)).is_some()
                {
                    return (out, false, None);
                }
            }
            Err(e) => return (out, false, Some(e.to_string())),
        }
    }
}

/// The payload of the first complete `data:` line of a server-sent-event text
/// that carries something (comments, blank lines and empty data are skipped).
pub(crate) fn first_event(text: &str) -> Option<&str> {
    let complete = &text[..text.rfind('\n')?];
    complete.lines().find_map(|line| {
        let payload = line.strip_prefix("data:")?.trim();
        (!payload.is_empty()).then_some(payload)
    })
}

#[cfg(test)]
mod tests {
    use super::first_event;

    #[test]
    fn first_event_skips_comments_and_partial_lines() {
        assert_eq!(
            first_event(": keep-alive\n\ndata: {\"a\":1}\n\n"),
            Some("{\"a\":1}")
        );
        assert_eq!(first_event("\n\ndata: [DONE]\n"), Some("[DONE]"));
        assert_eq!(first_event("data: {\"a\":"), None);
        assert_eq!(first_event("data:\n\n: ping\n"), None);
        assert_eq!(first_event(""), None);
    }
}
