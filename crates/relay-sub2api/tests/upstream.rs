//! The vendor probe client against a fake vendor served over HTTP on loopback
//! (a tiny `std::net::TcpListener` server answering canned vendor responses).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use relay_domain::{mask, Fingerprint, Secret};
use relay_sub2api::{probe_upstream, UpstreamTimeouts, UpstreamUrlError};

/// One request the fake vendor received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    authorization: Option<String>,
    body: String,
}

/// A fake OpenAI-compatible vendor. The key in `Authorization: Bearer` decides the
/// answer: `valid`, `invalid` (401), `quota` (402), `ratelimit` (429), `boom`
/// (500), `minimax` (200 with a `base_resp` error); routes are `/v1/models` and
/// `/v1/chat/completions`, anything else 404.
struct FakeVendor {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
}

fn answer(key: &str, path: &str) -> (u16, String) {
    if path != "/v1/models" && path != "/v1/chat/completions" {
        return (
            404,
            r#"{"error":{"message":"not found","type":"invalid_request_error"}}"#.into(),
        );
    }
    let chat = path.ends_with("/chat/completions");
    if key.contains("invalid") {
        return (
            401,
            format!(
                r#"{{"error":{{"message":"Incorrect API key provided: {key}","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}}}"#
            ),
        );
    }
    if key.contains("quota") {
        return (402, r#"{"error":{"message":"Insufficient Balance","type":"insufficient_balance","code":"insufficient_balance"}}"#.into());
    }
    if key.contains("ratelimit") {
        return (429, r#"{"error":{"message":"Rate limit reached for requests","type":"rate_limit_error","code":"rate_limit_exceeded"}}"#.into());
    }
    if key.contains("boom") {
        return (500, "upstream exploded".into());
    }
    if key.contains("minimax") && chat {
        return (
            200,
            r#"{"base_resp":{"status_code":1008,"status_msg":"insufficient balance"}}"#.into(),
        );
    }
    if chat {
        (200, r#"{"id":"c1","object":"chat.completion","model":"fake-chat","choices":[{"index":0,"message":{"role":"assistant","content":"pong"},"finish_reason":"stop"}]}"#.into())
    } else {
        (200, r#"{"object":"list","data":[{"id":"fake-chat","object":"model"},{"id":"fake-pro","object":"model"}]}"#.into())
    }
}

fn serve(stream: TcpStream, seen: &Mutex<Vec<Seen>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut authorization = None;
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
        let (name, value) = h.split_once(':').unwrap_or((h.as_str(), ""));
        let value = value.trim().to_string();
        match name.to_ascii_lowercase().as_str() {
            "authorization" => authorization = Some(value),
            "content-length" => length = value.parse().unwrap_or(0),
            _ => {}
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    let key = authorization
        .as_deref()
        .and_then(|a| a.strip_prefix("Bearer "))
        .unwrap_or("")
        .to_string();
    seen.lock().unwrap().push(Seen {
        method,
        path: path.clone(),
        authorization,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let (status, text) = answer(&key, &path);
    let mut out = stream;
    write!(
        out,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    )?;
    out.flush()
}

impl FakeVendor {
    fn start() -> FakeVendor {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = serve(stream, &log);
            }
        });
        FakeVendor { port, seen }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn timeouts() -> UpstreamTimeouts {
    UpstreamTimeouts {
        connect: Duration::from_secs(2),
        read: Duration::from_secs(5),
    }
}

#[test]
fn a_valid_key_lists_models_and_completes_with_bearer_auth() {
    let vendor = FakeVendor::start();
    let key = Secret::new("sk-valid-0123456789abcdef");
    let p = probe_upstream(&vendor.base(), &key, "fake-chat", &timeouts()).unwrap();
    assert!(p.works());
    assert!(p.models.ok && p.chat.ok);
    assert_eq!(p.models.http_status, Some(200));
    assert_eq!(p.models_listed, vec!["fake-chat", "fake-pro"]);
    assert!(p.model_listed);
    assert_eq!(p.chat_preview, "pong");
    assert_eq!(p.chat_model.as_deref(), Some("fake-chat"));
    assert_eq!(p.key_mask, mask(key.expose()));
    assert_eq!(p.key_fingerprint, Fingerprint::of(key.expose()));

    let seen = vendor.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        ("GET", "/v1/models")
    );
    assert_eq!(
        (seen[1].method.as_str(), seen[1].path.as_str()),
        ("POST", "/v1/chat/completions")
    );
    for s in &seen {
        assert_eq!(
            s.authorization.as_deref(),
            Some("Bearer sk-valid-0123456789abcdef")
        );
    }
    let body: serde_json::Value = serde_json::from_str(&seen[1].body).unwrap();
    assert_eq!(body["model"], "fake-chat");
    assert_eq!(body["messages"][0]["content"], "reply with pong only");
    assert!(body["max_tokens"].as_u64().unwrap() <= 16);
}

#[test]
fn vendor_errors_are_parsed_and_the_key_never_appears() {
    let vendor = FakeVendor::start();
    let cases = [
        ("sk-invalid-0123456789abcdef", 401, Some("invalid_api_key")),
        (
            "sk-quota-0123456789abcdef",
            402,
            Some("insufficient_balance"),
        ),
        (
            "sk-ratelimit-0123456789abcd",
            429,
            Some("rate_limit_exceeded"),
        ),
        ("sk-boom-0123456789abcdef", 500, None),
    ];
    for (raw, status, code) in cases {
        let key = Secret::new(raw);
        let p = probe_upstream(&vendor.base(), &key, "fake-chat", &timeouts()).unwrap();
        assert!(!p.works(), "{raw}");
        assert_eq!(p.chat.http_status, Some(status), "{raw}");
        assert_eq!(p.models.http_status, Some(status), "{raw}");
        let err = p.chat.error.as_ref().expect("vendor error");
        assert_eq!(err.code.as_deref(), code, "{raw}");
        let json = serde_json::to_string(&p).unwrap();
        assert!(!json.contains(raw), "key leaked: {json}");
        assert!(!format!("{p:?}").contains(raw));
    }
    // The 401 body echoed the key: it is masked in the message.
    let key = Secret::new("sk-invalid-0123456789abcdef");
    let p = probe_upstream(&vendor.base(), &key, "fake-chat", &timeouts()).unwrap();
    let msg = &p.chat.error.as_ref().unwrap().message;
    assert!(msg.starts_with("Incorrect API key provided: "), "{msg}");
    assert!(msg.contains(&mask(key.expose())));
    // The 500 body was not JSON: kept verbatim.
    let p = probe_upstream(
        &vendor.base(),
        &Secret::new("sk-boom-0123456789abcdef"),
        "m",
        &timeouts(),
    )
    .unwrap();
    assert_eq!(p.chat.error.as_ref().unwrap().message, "upstream exploded");
}

#[test]
fn a_200_with_a_minimax_base_resp_error_is_a_failure() {
    let vendor = FakeVendor::start();
    let p = probe_upstream(
        &vendor.base(),
        &Secret::new("sk-minimax-0123456789abcdef"),
        "MiniMax-M3",
        &timeouts(),
    )
    .unwrap();
    assert!(p.models.ok);
    assert!(!p.model_listed);
    assert!(!p.chat.ok);
    assert_eq!(p.chat.http_status, Some(200));
    let e = p.chat.error.unwrap();
    assert_eq!(e.code.as_deref(), Some("1008"));
    assert_eq!(e.message, "insufficient balance");
}

#[test]
fn a_closed_port_is_a_transport_failure() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let p = probe_upstream(
        &format!("http://127.0.0.1:{port}/v1"),
        &Secret::new("sk-valid-0123456789abcdef"),
        "m",
        &timeouts(),
    )
    .unwrap();
    assert!(!p.works());
    assert_eq!(p.chat.http_status, None);
    assert!(p.chat.transport_error.is_some());
    assert!(p.models.transport_error.is_some());
}

#[test]
fn plain_http_to_a_non_loopback_host_is_refused_before_any_call() {
    let err = probe_upstream(
        "http://api.deepseek.com/v1",
        &Secret::new("sk-valid-0123456789abcdef"),
        "deepseek-flash",
        &timeouts(),
    )
    .unwrap_err();
    assert_eq!(
        err,
        UpstreamUrlError::InsecureScheme {
            host: "api.deepseek.com".into()
        }
    );
    assert!(err.to_string().contains("https://"));
}
