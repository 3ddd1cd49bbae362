//! Server-sent-event framing (`data: <json>\n\n`).

use hyper::header::HeaderValue;
use serde_json::Value;

use crate::http::{raw, Resp};

/// Frames events as `data: <compact json>\n\n` lines (no `event:` lines).
pub(crate) fn frame(events: &[Value]) -> String {
    let mut out = String::new();
    for e in events {
        out.push_str("data: ");
        out.push_str(&e.to_string());
        out.push_str("\n\n");
    }
    out
}

/// A 200 `text/event-stream` response with the host's streaming headers.
pub(crate) fn stream_response(body: String) -> Resp {
    let mut r = raw(200, "text/event-stream", body);
    let h = r.headers_mut();
    h.insert("cache-control", HeaderValue::from_static("no-cache"));
    h.insert("connection", HeaderValue::from_static("keep-alive"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    r
}
