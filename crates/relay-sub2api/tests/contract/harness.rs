//! The table/fixture harness of the contract tests.
//!
//! A row of the table is a list of [`Exchange`]s — each one request the adapter must
//! send (method, path, query, headers, JSON body) and the host's answer to it, read
//! from a `fixtures/host/` sample — plus the adapter call and the checks of its typed
//! result. [`run`] mounts the exchanges on a fresh `httpmock` server, makes the call
//! with a [`Sub2ApiClient`] configured for it, and then checks that every exchange
//! was requested as often as it says (exactly once unless the row says otherwise), so
//! a request the adapter did not send, or sent differently, fails the row.
//! [`contract_cases!`] turns rows into one `#[test]` each.

use std::time::Duration;

use httpmock::{Mock, MockServer};
use relay_domain::Secret;
use relay_sub2api::{AdminAuth, HostConfig, Sub2ApiClient};
use serde_json::Value;

/// The admin API key every contract client sends (`x-api-key`).
pub const ADMIN_KEY: &str =
    "admin-9f1c2b7e0d4a5f6e8c3b1a2d4e6f8091a3b5c7d9e1f2a4b6c8d0e2f4a6b8c0d2";

/// The text of the host sample `fixtures/host/<name>`.
pub fn fx(name: &str) -> String {
    let path = format!("{}/../../fixtures/host/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

/// The client configuration of the contract tests for a host at `base`: the admin
/// API key, short timeouts, two read retries.
pub fn config(base: String) -> HostConfig {
    HostConfig {
        base_url: base,
        auth: AdminAuth::ApiKey(Secret::new(ADMIN_KEY)),
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(5),
        max_read_retries: 2,
    }
}

/// How the request of an exchange is matched.
#[derive(Debug, Clone)]
enum Route {
    /// This method and exactly this path.
    Exact(&'static str, String),
    /// Any method, any path under this prefix.
    Prefix(String),
    /// Any write (`POST`, `PUT`, `DELETE`) under `/api/`.
    Writes,
}

/// One request the adapter must send and the host's answer to it.
#[derive(Debug, Clone)]
pub struct Exchange {
    route: Route,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    header_prefixes: Vec<(String, String)>,
    missing: Vec<String>,
    json: Option<Value>,
    body_includes: Option<String>,
    status: u16,
    reply_headers: Vec<(String, String)>,
    reply: String,
    calls: Option<usize>,
}

fn exchange(route: Route) -> Exchange {
    Exchange {
        route,
        query: Vec::new(),
        headers: Vec::new(),
        header_prefixes: Vec::new(),
        missing: Vec::new(),
        json: None,
        body_includes: None,
        status: 200,
        reply_headers: Vec::new(),
        reply: String::new(),
        calls: Some(1),
    }
}

/// A `GET` of `path`.
pub fn get(path: impl Into<String>) -> Exchange {
    exchange(Route::Exact("GET", path.into()))
}

/// A `POST` to `path`.
pub fn post(path: impl Into<String>) -> Exchange {
    exchange(Route::Exact("POST", path.into()))
}

/// A `PUT` to `path`.
pub fn put(path: impl Into<String>) -> Exchange {
    exchange(Route::Exact("PUT", path.into()))
}

/// A `DELETE` of `path`.
pub fn delete(path: impl Into<String>) -> Exchange {
    exchange(Route::Exact("DELETE", path.into()))
}

/// Any request whose path starts with `prefix`.
pub fn under(prefix: impl Into<String>) -> Exchange {
    exchange(Route::Prefix(prefix.into()))
}

/// Any write to the host's API (`POST`, `PUT` or `DELETE` under `/api/`), answered
/// `500`: rows of read-only operations expect it [`Exchange::calls`]`(0)` times.
pub fn writes() -> Exchange {
    exchange(Route::Writes).answer_text(500, "write during a read-only probe")
}

impl Exchange {
    // --- the request

    /// The request carries this query parameter.
    pub fn query(mut self, name: &str, value: &str) -> Self {
        self.query.push((name.into(), value.into()));
        self
    }

    /// The request carries this header with this value.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The request carries this header, its value starting with `prefix`.
    pub fn header_prefix(mut self, name: &str, prefix: &str) -> Self {
        self.header_prefixes.push((name.into(), prefix.into()));
        self
    }

    /// The request authenticates with the admin API key.
    pub fn admin_key(self) -> Self {
        self.header("x-api-key", ADMIN_KEY)
    }

    /// The request does not carry this header.
    pub fn without(mut self, name: &str) -> Self {
        self.missing.push(name.into());
        self
    }

    /// The request body is exactly this JSON (field names and values).
    pub fn json(mut self, body: Value) -> Self {
        self.json = Some(body);
        self
    }

    /// The request body contains this text.
    pub fn body_includes(mut self, text: &str) -> Self {
        self.body_includes = Some(text.into());
        self
    }

    // --- the answer

    /// The host answers `200` with the JSON sample `fixture`.
    pub fn ok(self, fixture: &str) -> Self {
        self.status(200)
            .reply_header("content-type", "application/json; charset=utf-8")
            .reply(fx(fixture))
    }

    /// The host answers `status` with the sample `fixture` (no content type).
    pub fn answer(self, status: u16, fixture: &str) -> Self {
        self.status(status).reply(fx(fixture))
    }

    /// The host answers `status` with this literal body (no content type).
    pub fn answer_text(self, status: u16, body: impl Into<String>) -> Self {
        self.status(status).reply(body)
    }

    /// The host answers `status` with this JSON (`content-type: application/json`).
    pub fn answer_json(self, status: u16, body: Value) -> Self {
        self.status(status)
            .reply_header("content-type", "application/json")
            .reply(body.to_string())
    }

    /// The host answers `200` with the stream sample `fixture` and this content type.
    pub fn stream(self, fixture: &str, content_type: &str) -> Self {
        self.status(200)
            .reply_header("content-type", content_type)
            .reply(fx(fixture))
    }

    /// The answer's status.
    pub fn status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// The answer carries this header.
    pub fn reply_header(mut self, name: &str, value: &str) -> Self {
        self.reply_headers.push((name.into(), value.into()));
        self
    }

    /// The answer's body.
    pub fn reply(mut self, body: impl Into<String>) -> Self {
        self.reply = body.into();
        self
    }

    // --- how often

    /// The adapter sends this request exactly `n` times (the default is once).
    pub fn calls(mut self, n: usize) -> Self {
        self.calls = Some(n);
        self
    }

    /// The row makes no claim on how often this request is sent (the answer is only
    /// there for the adapter to read, e.g. a host that may be asked again).
    pub fn any_calls(mut self) -> Self {
        self.calls = None;
        self
    }

    /// Mounts the exchange on `server`.
    pub fn mount<'a>(&self, server: &'a MockServer) -> Mock<'a> {
        let ex = self.clone();
        server.mock(move |when, then| {
            let mut when = match ex.route {
                Route::Exact(method, path) => when.method(method).path(path),
                Route::Prefix(prefix) => when.path_prefix(prefix),
                Route::Writes => when.is_true(|req| {
                    let method = req.method().to_string();
                    matches!(method.as_str(), "POST" | "PUT" | "DELETE")
                        && req.uri().path().starts_with("/api/")
                }),
            };
            for (name, value) in ex.query {
                when = when.query_param(name, value);
            }
            for (name, value) in ex.headers {
                when = when.header(name, value);
            }
            for (name, prefix) in ex.header_prefixes {
                when = when.header_prefix(name, prefix);
            }
            for name in ex.missing {
                when = when.header_missing(name);
            }
            if let Some(body) = ex.json {
                when = when.json_body(body);
            }
            if let Some(text) = ex.body_includes {
                when.body_includes(text);
            }
            let mut then = then.status(ex.status);
            for (name, value) in ex.reply_headers {
                then = then.header(name, value);
            }
            then.body(ex.reply);
        })
    }

    /// Checks that the adapter sent this exchange's request as often as it says.
    fn verify(&self, mock: &Mock<'_>) {
        if let Some(n) = self.calls {
            let route = match &self.route {
                Route::Exact(method, path) => format!("{method} {path}"),
                Route::Prefix(prefix) => format!("{prefix}*"),
                Route::Writes => "writes under /api/".to_owned(),
            };
            assert_eq!(mock.calls(), n, "requests matching {route}");
        }
    }
}

/// A client configured for `server` with the admin API key.
pub fn client(server: &MockServer) -> Sub2ApiClient {
    Sub2ApiClient::new(config(server.base_url())).expect("client")
}

/// Mounts `exchanges` on a fresh server, in order (where two match a request, the
/// first mounted answers), runs `call` with a client for it, checks how often each
/// exchange was requested, and returns what the call returned for the row's checks.
pub fn run<T>(
    exchanges: impl IntoIterator<Item = Exchange>,
    call: impl FnOnce(&Sub2ApiClient) -> T,
) -> T {
    let server = MockServer::start();
    let exchanges: Vec<Exchange> = exchanges.into_iter().collect();
    let mocks: Vec<Mock<'_>> = exchanges.iter().map(|ex| ex.mount(&server)).collect();
    let out = call(&client(&server));
    for (ex, mock) in exchanges.iter().zip(&mocks) {
        ex.verify(mock);
    }
    out
}

/// Hands a row's result to its checks (a function, so the checks' closure is typed
/// by the result).
pub fn check<T>(result: T, checks: impl FnOnce(T)) {
    checks(result);
}

/// One `#[test]` per row: `name: [exchanges] => |client| call, |result| checks;`.
/// The call's value is handed to the checks once every exchange was verified.
macro_rules! contract_cases {
    ($(
        $(#[$meta:meta])*
        $name:ident: [$($exchange:expr),* $(,)?] => $call:expr, $check:expr;
    )*) => {$(
        $(#[$meta])*
        #[test]
        fn $name() {
            let result = $crate::contract::harness::run([$($exchange),*], $call);
            $crate::contract::harness::check(result, $check);
        }
    )*};
}
pub(crate) use contract_cases;
