//! Shared helpers for the mock's integration tests: a tiny blocking client and fixtures.

use std::time::Duration;

use serde_json::{json, Value};
use sub2api_mock::{Faults, MockConfig, MockHost};

/// A response, fully read.
#[derive(Debug)]
pub struct Res {
    pub status: u16,
    pub content_type: String,
    pub headers: Vec<(String, String)>,
    pub text: String,
}

impl Res {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Parses `data: {json}` SSE lines.
    pub fn sse(&self) -> Vec<Value> {
        self.text
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter(|l| *l != "[DONE]")
            .map(|l| serde_json::from_str(l).expect("sse json"))
            .collect()
    }
}

/// Blocking HTTP client bound to one mock host.
#[derive(Debug)]
pub struct Client {
    agent: ureq::Agent,
    pub base: String,
}

impl Client {
    pub fn new(base: &str) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(20)))
            .build()
            .into();
        Client {
            agent,
            base: base.to_string(),
        }
    }

    pub fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Res {
        self.raw(method, path, headers, body.map(|b| b.to_string()))
    }

    pub fn raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> Res {
        let mut b = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{}", self.base, path));
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let result = match body {
            Some(text) => {
                b = b.header("content-type", "application/json");
                self.agent.run(b.body(text).expect("request"))
            }
            None => self
                .agent
                .run(b.body(ureq::SendBody::none()).expect("request")),
        };
        let mut resp = result.expect("transport");
        let status = resp.status().as_u16();
        let headers: Vec<(String, String)> = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        Res {
            status,
            content_type,
            headers,
            text,
        }
    }
}

/// A started host plus a client and the admin header.
#[derive(Debug)]
pub struct Env {
    pub host: MockHost,
    pub c: Client,
    pub key: String,
}

impl Env {
    pub fn new() -> Env {
        Env::with_faults(Faults {
            responses_probe_delay_ms: 30,
            ..Faults::default()
        })
    }

    pub fn with_faults(faults: Faults) -> Env {
        let host = MockHost::start(MockConfig {
            faults,
            ..MockConfig::default()
        })
        .expect("start mock");
        let c = Client::new(&host.base_url());
        let key = host.admin_api_key().to_string();
        Env { host, c, key }
    }

    /// Admin call with the admin API key.
    pub fn admin(&self, method: &str, path: &str, body: Option<Value>) -> Res {
        self.c.call(
            method,
            &format!("/api/v1/admin{path}"),
            &[("x-api-key", &self.key)],
            body.as_ref(),
        )
    }

    /// Admin call expecting the success envelope; returns `data`.
    pub fn admin_ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let r = self.admin(method, path, body);
        assert!(
            r.status == 200 || r.status == 201,
            "{method} {path} -> {} {}",
            r.status,
            r.text
        );
        let v = r.json();
        assert_eq!(v["code"], 0, "{}", r.text);
        assert_eq!(v["message"], "success");
        v["data"].clone()
    }

    pub fn create_group(&self, name: &str, extra: Value) -> i64 {
        let mut body = json!({"name": name, "platform": "openai", "rate_multiplier": 1});
        merge(&mut body, extra);
        self.admin_ok("POST", "/groups", Some(body))["id"]
            .as_i64()
            .expect("group id")
    }

    pub fn create_account(
        &self,
        name: &str,
        api_key: &str,
        base_url: &str,
        mapping: Value,
        groups: &[i64],
        extra: Value,
    ) -> i64 {
        let mut body = json!({
            "name": name, "platform": "openai", "type": "apikey",
            "credentials": {"api_key": api_key, "base_url": base_url, "model_mapping": mapping},
            "group_ids": groups,
        });
        merge(&mut body, extra);
        self.admin_ok("POST", "/accounts", Some(body))["id"]
            .as_i64()
            .expect("account id")
    }

    pub fn create_user(&self, email: &str, password: &str, balance: f64) -> i64 {
        self.admin_ok(
            "POST",
            "/users",
            Some(json!({"email": email, "password": password, "balance": balance})),
        )["id"]
            .as_i64()
            .expect("user id")
    }

    pub fn login(&self, email: &str, password: &str) -> String {
        let r = self.c.call(
            "POST",
            "/api/v1/auth/login",
            &[],
            Some(&json!({"email": email, "password": password})),
        );
        assert_eq!(r.status, 200, "{}", r.text);
        r.json()["data"]["access_token"]
            .as_str()
            .expect("token")
            .to_string()
    }

    /// Creates a user key (as the user) bound to `group`.
    pub fn user_key(&self, jwt: &str, group: i64) -> String {
        let bearer = format!("Bearer {jwt}");
        let r = self.c.call(
            "POST",
            "/api/v1/keys",
            &[("authorization", &bearer)],
            Some(&json!({"name": "k", "group_id": group})),
        );
        assert_eq!(r.status, 200, "{}", r.text);
        r.json()["data"]["key"].as_str().expect("key").to_string()
    }

    /// Group + user (balance 10) + key, returns (group id, user key).
    pub fn gateway_fixture(&self, email: &str) -> (i64, String) {
        let g = self.create_group(&format!("grp-{email}"), json!({}));
        self.create_user(email, "secret-pw", 10.0);
        let jwt = self.login(email, "secret-pw");
        let k = self.user_key(&jwt, g);
        (g, k)
    }

    pub fn chat(&self, key: &str, model: &str) -> Res {
        let bearer = format!("Bearer {key}");
        self.c.call(
            "POST",
            "/v1/chat/completions",
            &[("authorization", &bearer)],
            Some(&json!({"model": model, "messages": [{"role": "user", "content": "ping"}]})),
        )
    }

    pub fn models(&self, key: &str) -> Res {
        let bearer = format!("Bearer {key}");
        self.c
            .call("GET", "/v1/models", &[("authorization", &bearer)], None)
    }

    pub fn account(&self, id: i64) -> Value {
        self.admin_ok("GET", &format!("/accounts/{id}"), None)
    }
}

pub fn merge(base: &mut Value, extra: Value) {
    if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
        for (k, v) in e {
            b.insert(k, v);
        }
    }
}

/// Polls `f` until it returns true or the timeout elapses.
pub fn eventually(timeout_ms: u64, mut f: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_millis(timeout_ms) {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}
