//! Hostile and broken clients over real loopback TCP: slow request heads, idle
//! connections, slow bodies, more connections than the cap, bodies sent to open
//! routes, and token guessing. Time bounds here are generous and only catch hangs.

use hyper::{Method, StatusCode};
use relay_api::{serve, Access, ApiResponse, Limits, Router, ServerConfig, ServerHandle};
use relay_domain::Secret;
use serde_json::{json, Value};
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const TOKEN: &str = "op-token-0123456789abcdef";
/// Bound on anything that must happen: far above what it takes, only catches hangs.
const HANG: Duration = Duration::from_secs(30);

struct Running {
    addr: SocketAddr,
    handle: ServerHandle,
    rt: tokio::runtime::Runtime,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

fn start(limits: Limits, trusted_proxies: Vec<IpAddr>) -> Running {
    let mut router = Router::new();
    router.route(Method::GET, "/healthz", Access::Public, None, |_| {
        ApiResponse::ok(&json!({"status": "ok"}))
    });
    router.route(
        Method::GET,
        "/api/things/{id}",
        Access::Operator,
        None,
        |r| ApiResponse::ok(&json!({"id": r.param("id")?})),
    );
    router.route(Method::POST, "/api/things", Access::Operator, None, |r| {
        let v: Value = r.json()?;
        ApiResponse::json(StatusCode::CREATED, &v)
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (handle, fut) = serve(
        listener,
        router,
        ServerConfig {
            body_limit: 64 * 1024,
            limits,
            trusted_proxies,
            ..ServerConfig::new(Secret::new(TOKEN))
        },
    );
    rt.spawn(fut);
    Running { addr, handle, rt }
}

fn quick_limits() -> Limits {
    Limits {
        header_timeout: Duration::from_secs(1),
        body_timeout: Duration::from_secs(1),
        max_connections: 6,
        auth_failures: 3,
        auth_lockout: Duration::from_secs(120),
    }
}

#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::String(self.body.clone()))
    }
}

fn parse(raw: &[u8]) -> Option<Answer> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let mut lines = head.lines();
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Some(Answer {
        status,
        headers,
        body: body.to_string(),
    })
}

/// Sends `request` and reads until the server closes the connection (or `HANG`).
fn exchange(stream: &mut TcpStream, request: &[u8]) -> Answer {
    stream.set_read_timeout(Some(HANG)).unwrap();
    stream.write_all(request).unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset && !raw.is_empty() => break,
            Err(e) => panic!(
                "no complete answer to {:?}: {e}; got {:?}",
                String::from_utf8_lossy(request),
                String::from_utf8_lossy(&raw)
            ),
        }
    }
    parse(&raw).unwrap_or_else(|| panic!("not HTTP: {:?}", String::from_utf8_lossy(&raw)))
}

/// A request that asks the server to close after answering.
fn get(path: &str, token: Option<&str>, extra: &str) -> Vec<u8> {
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    format!("GET {path} HTTP/1.1\r\nHost: x\r\n{auth}{extra}Connection: close\r\n\r\n").into_bytes()
}

/// Connects from a chosen loopback source address (Linux routes all of 127/8 to lo).
fn connect_from(running: &Running, source: &str) -> TcpStream {
    let addr = running.addr;
    let source: SocketAddr = format!("{source}:0").parse().unwrap();
    running
        .rt
        .block_on(async move {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind(source)?;
            let stream = socket.connect(addr).await?;
            stream.into_std()
        })
        .and_then(|s| {
            s.set_nonblocking(false)?;
            Ok(s)
        })
        .unwrap()
}

// ------------------------------------------------------------- slow clients

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    SlowHead,
    Idle,
    SlowBody,
}

#[derive(Debug)]
enum Outcome {
    /// The server closed the connection; these bytes came before.
    Closed(Vec<u8>),
    /// Still open after `HANG`: the server let it hold its slot.
    Held,
}

/// One hostile client: connects, misbehaves until the server cuts it off, records
/// what it saw, and starts again until `stop`.
fn attacker(
    addr: SocketAddr,
    kind: Kind,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<(Kind, Outcome)>>>,
) {
    while !stop.load(Ordering::SeqCst) {
        let Ok(mut s) = TcpStream::connect(addr) else {
            thread::sleep(Duration::from_millis(50));
            continue;
        };
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let opening: Vec<u8> = match kind {
            Kind::SlowHead => b"GET /healthz HTTP/1.1\r\nHost: x\r\n".to_vec(),
            Kind::Idle => Vec::new(),
            Kind::SlowBody => format!(
                "POST /api/things HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\
                 Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n{{"
            )
            .into_bytes(),
        };
        let _ = s.write_all(&opening);
        let started = Instant::now();
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        let outcome = loop {
            if started.elapsed() > HANG {
                break Outcome::Held;
            }
            // Trickle: one more header line, or one more body byte.
            let _ = match kind {
                Kind::SlowHead => s.write_all(b"X-Slow: 1\r\n"),
                Kind::SlowBody => s.write_all(b" "),
                Kind::Idle => Ok(()),
            };
            match s.read(&mut buf) {
                Ok(0) => break Outcome::Closed(got),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => break Outcome::Closed(got),
            }
        };
        seen.lock().unwrap().push((kind, outcome));
    }
}

#[test]
fn slow_and_idle_clients_beyond_the_cap_do_not_starve_the_operator() {
    let s = start(quick_limits(), Vec::new());
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Vec::new()));
    // 12 hostile clients against a cap of 6, each reconnecting as soon as it is cut.
    let mut threads = Vec::new();
    for kind in [Kind::SlowHead, Kind::Idle, Kind::SlowBody] {
        for _ in 0..4 {
            let (stop, seen, addr) = (stop.clone(), seen.clone(), s.addr);
            threads.push(thread::spawn(move || attacker(addr, kind, stop, seen)));
        }
    }
    // Let them fill every slot and the backlog.
    thread::sleep(Duration::from_millis(500));

    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(HANG * 2))
        .build()
        .into();
    for i in 0..3 {
        let started = Instant::now();
        let resp = agent
            .get(format!("http://{}/api/things/{i}", s.addr))
            .header("Authorization", format!("Bearer {TOKEN}"))
            .header("Connection", "close")
            .call()
            .expect("the operator's request is answered");
        let elapsed = started.elapsed();
        assert_eq!(resp.status().as_u16(), 200);
        let v: Value = serde_json::from_str(&resp.into_body().read_to_string().unwrap()).unwrap();
        assert_eq!(v, json!({"id": i.to_string()}));
        assert!(elapsed < HANG, "request {i} took {elapsed:?}");
    }

    stop.store(true, Ordering::SeqCst);
    for t in threads {
        t.join().unwrap();
    }
    let seen = seen.lock().unwrap();
    for kind in [Kind::SlowHead, Kind::Idle, Kind::SlowBody] {
        let of_kind: Vec<&Outcome> = seen
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, o)| o)
            .collect();
        assert!(!of_kind.is_empty(), "{kind:?}: no attempt finished");
        assert!(
            of_kind.iter().all(|o| matches!(o, Outcome::Closed(_))),
            "{kind:?}: a connection held its slot: {of_kind:?}"
        );
        let answers: Vec<Answer> = of_kind
            .iter()
            .filter_map(|o| match o {
                Outcome::Closed(b) if !b.is_empty() => parse(b),
                _ => None,
            })
            .collect();
        match kind {
            // Cut off without a word: it never started a request.
            Kind::Idle => assert!(answers.is_empty(), "idle got {answers:?}"),
            Kind::SlowHead | Kind::SlowBody => {
                assert!(!answers.is_empty(), "{kind:?}: never answered 408");
                for a in &answers {
                    assert_eq!(a.status, 408, "{kind:?}: {a:?}");
                    assert_eq!(a.json()["error"]["code"], "request_timeout", "{a:?}");
                    assert_eq!(a.header("connection"), Some("close"), "{a:?}");
                    assert_eq!(a.header("cache-control"), Some("no-store"), "{a:?}");
                }
            }
        }
    }
}

#[test]
fn connections_beyond_the_cap_wait_for_a_free_slot() {
    let s = start(
        Limits {
            header_timeout: Duration::from_secs(2),
            max_connections: 2,
            ..quick_limits()
        },
        Vec::new(),
    );
    let mut idle: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(s.addr).unwrap())
        .collect();
    // Give the server time to take both into its two slots.
    thread::sleep(Duration::from_millis(300));
    let mut third = TcpStream::connect(s.addr).unwrap();
    let answer = exchange(&mut third, &get("/healthz", None, ""));
    assert_eq!(answer.status, 200);
    // It was served only once a slot was free: by then an idle connection was cut
    // (EOF now; an open one would have nothing to read yet).
    let mut closed = 0;
    for c in &mut idle {
        c.set_nonblocking(true).unwrap();
        if matches!(c.read(&mut [0u8; 16]), Ok(0)) {
            closed += 1;
        }
    }
    assert!(
        closed >= 1,
        "the third connection was served while both slots were held"
    );
}

// ------------------------------------------------------------- bodies on open routes

#[test]
fn open_routes_refuse_bodies_without_reading_them() {
    // A long body timeout: a server that waited for the body would not answer in time.
    let s = start(
        Limits {
            body_timeout: Duration::from_secs(120),
            ..quick_limits()
        },
        Vec::new(),
    );
    let declared = get("/healthz", None, "Content-Length: 1048576\r\n");
    let mut c = TcpStream::connect(s.addr).unwrap();
    let started = Instant::now();
    let a = exchange(&mut c, &declared);
    assert!(started.elapsed() < HANG);
    assert_eq!(a.status, 413, "{a:?}");
    assert_eq!(a.json()["error"]["code"], "request_too_large");
    assert_eq!(
        a.json()["error"]["message"],
        "this route takes no request body"
    );
    assert_eq!(a.header("connection"), Some("close"));

    let chunked = get("/healthz", None, "Transfer-Encoding: chunked\r\n");
    let a = exchange(&mut TcpStream::connect(s.addr).unwrap(), &chunked);
    assert_eq!(a.status, 413, "{a:?}");

    // Without the token, an API route answers 401 from the headers alone.
    let post = b"POST /api/things HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n";
    let a = exchange(&mut TcpStream::connect(s.addr).unwrap(), post);
    assert_eq!(a.status, 401, "{a:?}");
    assert_eq!(a.header("connection"), Some("close"));

    // An empty body is fine.
    let a = exchange(
        &mut TcpStream::connect(s.addr).unwrap(),
        &get("/healthz", None, "Content-Length: 0\r\n"),
    );
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.header("cache-control"), Some("no-store"));
    assert_eq!(a.header("x-content-type-options"), Some("nosniff"));
}

#[test]
fn oversized_request_heads_are_refused() {
    let s = start(quick_limits(), Vec::new());
    // 100 KiB of headers: more than the 64 KiB a connection buffers.
    let filler: String = (0..50)
        .map(|i| format!("X-Filler-{i}: {}\r\n", "a".repeat(2000)))
        .collect();
    let a = exchange(
        &mut TcpStream::connect(s.addr).unwrap(),
        &get("/healthz", None, &filler),
    );
    assert_eq!(a.status, 431, "{a:?}");
    // A head well under the limit is served.
    let filler: String = (0..10)
        .map(|i| format!("X-Filler-{i}: {}\r\n", "a".repeat(2000)))
        .collect();
    let a = exchange(
        &mut TcpStream::connect(s.addr).unwrap(),
        &get("/healthz", None, &filler),
    );
    assert_eq!(a.status, 200, "{a:?}");
}

// ------------------------------------------------------------- token guessing

#[cfg(target_os = "linux")]
#[test]
fn failed_token_checks_are_throttled_per_client_address() {
    let s = start(quick_limits(), Vec::new());
    let ask = |source: &str, req: Vec<u8>| exchange(&mut connect_from(&s, source), &req);
    for i in 0..3 {
        let a = ask(
            "127.0.0.2",
            get("/api/things/1", Some(&format!("guess-{i}")), ""),
        );
        assert_eq!(a.status, 401, "guess {i}: {a:?}");
        assert_eq!(a.header("retry-after"), None);
    }
    let a = ask("127.0.0.2", get("/api/things/1", Some("guess-4"), ""));
    assert_eq!(a.status, 429, "{a:?}");
    assert_eq!(a.json()["error"]["code"], "rate_limited");
    let retry: u64 = a
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=120).contains(&retry), "Retry-After {retry}");
    assert_eq!(a.header("cache-control"), Some("no-store"));
    // While blocked, not even the right token is compared from that address.
    let a = ask("127.0.0.2", get("/api/things/1", Some(TOKEN), ""));
    assert_eq!(a.status, 429, "{a:?}");
    // Unknown API paths too (the token is checked before routing).
    let a = ask("127.0.0.2", get("/api/nowhere", Some(TOKEN), ""));
    assert_eq!(a.status, 429, "{a:?}");
    // Open routes stay open.
    let a = ask("127.0.0.2", get("/healthz", None, ""));
    assert_eq!(a.status, 200, "{a:?}");

    // Another address is not affected, neither with the right token nor with a wrong one.
    let a = ask("127.0.0.3", get("/api/things/1", Some(TOKEN), ""));
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.json(), json!({"id": "1"}));
    let a = ask("127.0.0.3", get("/api/things/1", Some("wrong"), ""));
    assert_eq!(a.status, 401, "{a:?}");
    // A correct token clears that address's count.
    for _ in 0..2 {
        let a = ask("127.0.0.4", get("/api/things/1", Some("wrong"), ""));
        assert_eq!(a.status, 401, "{a:?}");
    }
    let a = ask("127.0.0.4", get("/api/things/1", Some(TOKEN), ""));
    assert_eq!(a.status, 200, "{a:?}");
    for _ in 0..2 {
        let a = ask("127.0.0.4", get("/api/things/1", Some("wrong"), ""));
        assert_eq!(a.status, 401, "{a:?}");
    }
}

#[test]
fn behind_a_trusted_proxy_the_forwarded_address_is_throttled() {
    let proxy: IpAddr = "127.0.0.1".parse().unwrap();
    let s = start(quick_limits(), vec![proxy]);
    let via = |client: &str, token: &str| {
        exchange(
            &mut TcpStream::connect(s.addr).unwrap(),
            &get(
                "/api/things/9",
                Some(token),
                &format!("X-Forwarded-For: 10.0.0.1, {client}\r\n"),
            ),
        )
    };
    for _ in 0..3 {
        assert_eq!(via("203.0.113.9", "wrong").status, 401);
    }
    assert_eq!(via("203.0.113.9", TOKEN).status, 429);
    // Another client behind the same proxy still gets in.
    assert_eq!(via("203.0.113.10", TOKEN).status, 200);
    // The client's own claims (entries before the proxy's) do not matter.
    let spoof = exchange(
        &mut TcpStream::connect(s.addr).unwrap(),
        &get(
            "/api/things/9",
            Some(TOKEN),
            "X-Forwarded-For: 203.0.113.10, 203.0.113.9\r\n",
        ),
    );
    assert_eq!(spoof.status, 429);
}
