//! Routes: method + path template → blocking handler, with per-route access and body limit.

use crate::error::ApiError;
use crate::stream::{Producer, Streamed};
use bytes::Bytes;
use hyper::{HeaderMap, Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// A parsed request handed to a handler.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    /// HTTP method.
    pub method: Method,
    /// Request path (no query).
    pub path: String,
    /// Values of the route template's `{params}`.
    pub params: BTreeMap<String, String>,
    /// Decoded query parameters (last value wins).
    pub query: BTreeMap<String, String>,
    /// Request headers.
    pub headers: HeaderMap,
    /// The whole body (already size-checked).
    pub body: Bytes,
    /// The request id echoed in `x-request-id`.
    pub request_id: String,
}

impl ApiRequest {
    /// A route parameter, which the router guarantees to exist for its template.
    pub fn param(&self, name: &str) -> Result<&str, ApiError> {
        self.params
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| ApiError::internal(format!("route has no parameter `{name}`")))
    }

    /// A query parameter, if present and non-empty.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// Decodes the JSON body; an empty body decodes as `{}`. A failure answers
    /// `400 invalid_request` naming the field, the expected type and the position, never
    /// the submitted value ([`crate::json_error`]).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        let body: &[u8] = if self.body.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &self.body
        };
        serde_json::from_slice(body).or_else(|e| {
            // JSON has one number type: `1.0` is the integer 1 (JSON Schema says so
            // too). A body with whole numbers written with a fraction or an exponent
            // is read again with those numbers as integers, and a failure is then
            // reported against that reading.
            let (read, e) = match whole_numbers_as_integers(body) {
                Some(b) => match serde_json::from_slice(&b) {
                    Ok(v) => return Ok(v),
                    Err(e) => (b, e),
                },
                None => (body.to_vec(), e),
            };
            Err(ApiError::bad_request(format!(
                "invalid JSON body: {} (send a JSON object with the documented fields)",
                crate::json_error::describe(&read, &e)
            )))
        })
    }
}

/// `body` with every whole number written as a float (`1.0`, `2e1`) rewritten as an
/// integer, when it is valid JSON and has at least one; `None` otherwise.
fn whole_numbers_as_integers(body: &[u8]) -> Option<Vec<u8>> {
    fn fix(v: &mut serde_json::Value) -> bool {
        match v {
            serde_json::Value::Number(n) if n.is_f64() => {
                // Exact in an f64 and in an i64: |x| <= 2^53.
                const EXACT: f64 = 9_007_199_254_740_992.0;
                match n.as_f64() {
                    Some(x) if x.fract() == 0.0 && x.abs() <= EXACT => {
                        *v = serde_json::Value::from(x as i64);
                        true
                    }
                    _ => false,
                }
            }
            // Every element is visited (no short circuit): all of them are fixed.
            serde_json::Value::Array(items) => items.iter_mut().map(fix).filter(|f| *f).count() > 0,
            serde_json::Value::Object(map) => map.values_mut().map(fix).filter(|f| *f).count() > 0,
            _ => false,
        }
    }
    let mut value: serde_json::Value = serde_json::from_slice(body).ok()?;
    if !fix(&mut value) {
        return None;
    }
    serde_json::to_vec(&value).ok()
}

/// What a handler answers.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    /// HTTP status.
    pub status: StatusCode,
    /// Content type of `body`.
    pub content_type: &'static str,
    /// Body bytes (empty for a streamed answer).
    pub body: Bytes,
    /// The producer of a streamed body ([`ApiResponse::streamed`]), sent in place of
    /// `body`.
    pub stream: Option<Streamed>,
}

impl ApiResponse {
    /// A JSON response.
    pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Result<Self, ApiError> {
        let body = serde_json::to_vec(value)
            .map_err(|e| ApiError::internal(format!("cannot encode the response: {e}")))?;
        Ok(ApiResponse {
            status,
            content_type: "application/json",
            body: Bytes::from(body),
            stream: None,
        })
    }

    /// `200` with a JSON body.
    pub fn ok<T: Serialize>(value: &T) -> Result<Self, ApiError> {
        Self::json(StatusCode::OK, value)
    }

    /// A plain-text response.
    pub fn text(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Self {
        ApiResponse {
            status,
            content_type,
            body: body.into(),
            stream: None,
        }
    }

    /// A JSON answer whose body `producer` writes while it is sent
    /// ([`crate::stream`]). The producer passes every piece it writes through the
    /// application's redaction step itself: [`ApiResponse::redacted`] leaves a
    /// streamed body alone.
    pub fn streamed(status: StatusCode, producer: Producer) -> Self {
        ApiResponse {
            status,
            content_type: "application/json",
            body: Bytes::new(),
            stream: Some(Streamed::new(producer)),
        }
    }

    /// This answer with every string of its JSON body (or its text) passed through
    /// `redactor`; the body is re-encoded only when something was masked. Other
    /// bodies (zip, binary) are left alone.
    pub fn redacted(mut self, redactor: &relay_domain::Redactor) -> Self {
        if self.stream.is_some() {
            // Its producer redacts each piece it writes.
            return self;
        }
        if self.content_type.starts_with("application/json") {
            // The encoded text is redacted as it is: no second copy of a large
            // answer as a JSON tree.
            if let Some(clean) = std::str::from_utf8(&self.body)
                .ok()
                .and_then(|text| redactor.redact_json_text(text))
            {
                if clean.as_bytes() != &self.body[..] {
                    self.body = Bytes::from(clean);
                }
            }
        } else if self.content_type.starts_with("text/") {
            if let Ok(text) = std::str::from_utf8(&self.body) {
                let clean = redactor.redact(text);
                if clean != text {
                    self.body = Bytes::from(clean);
                }
            }
        }
        self
    }
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No token needed (`/healthz`, `/readyz`); such a route takes no request body.
    Public,
    /// The operator token is required.
    Operator,
}

/// A blocking handler; the server runs it on a blocking thread.
pub type Handler = Arc<dyn Fn(ApiRequest) -> Result<ApiResponse, ApiError> + Send + Sync>;

#[derive(Clone)]
pub(crate) struct Endpoint {
    pub handler: Handler,
    pub access: Access,
    pub body_limit: Option<usize>,
}

/// The route table.
#[derive(Default)]
pub struct Router {
    table: matchit::Router<usize>,
    templates: Vec<String>,
    endpoints: Vec<BTreeMap<String, Endpoint>>,
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field("templates", &self.templates)
            .finish()
    }
}

/// The outcome of a lookup.
pub(crate) enum Lookup {
    Found(Endpoint, BTreeMap<String, String>),
    MethodNotAllowed(Vec<String>),
    NotFound,
}

impl Router {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a route. Templates use `{name}` parameters, e.g. `/api/hosts/{id}`.
    /// `body_limit` overrides the server's default for this route (e.g. uploads).
    pub fn route<F>(
        &mut self,
        method: Method,
        template: &str,
        access: Access,
        body_limit: Option<usize>,
        handler: F,
    ) -> &mut Self
    where
        F: Fn(ApiRequest) -> Result<ApiResponse, ApiError> + Send + Sync + 'static,
    {
        let idx = match self.templates.iter().position(|t| t == template) {
            Some(i) => i,
            None => {
                let i = self.templates.len();
                self.table
                    .insert(template, i)
                    .unwrap_or_else(|e| panic!("invalid route template {template}: {e}"));
                self.templates.push(template.to_string());
                self.endpoints.push(BTreeMap::new());
                i
            }
        };
        self.endpoints[idx].insert(
            method.as_str().to_string(),
            Endpoint {
                handler: Arc::new(handler),
                access,
                body_limit,
            },
        );
        self
    }

    /// Every registered route as `(method, template)`, e.g. `("GET", "/api/hosts/{host}")`:
    /// templates in registration order, the methods of one template in alphabetical
    /// order. Read-only; used to check that the API description covers the table.
    pub fn routes(&self) -> Vec<(String, String)> {
        self.templates
            .iter()
            .zip(&self.endpoints)
            .flat_map(|(template, methods)| {
                methods
                    .keys()
                    .map(move |method| (method.clone(), template.clone()))
            })
            .collect()
    }

    pub(crate) fn lookup(&self, method: &Method, path: &str) -> Lookup {
        let Ok(m) = self.table.at(path) else {
            return Lookup::NotFound;
        };
        let params: BTreeMap<String, String> = m
            .params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let methods = &self.endpoints[*m.value];
        match methods.get(method.as_str()) {
            Some(e) => Lookup::Found(e.clone(), params),
            None => Lookup::MethodNotAllowed(methods.keys().cloned().collect()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use relay_domain::{mask, Redactor};
    use serde_json::json;

    const KEY: &str = "sk-0957beb1f3bdf4a9ee786475a5a168d9";
    const TOKEN: &str = "operator token of no shape";

    #[test]
    fn answers_and_errors_pass_the_redactor() {
        let redactor = Redactor::new().with_raw(TOKEN);
        let answer = ApiResponse::ok(
            &json!({"items": [{"message": format!("api_key {KEY} refused by {TOKEN}")}]}),
        )
        .unwrap()
        .redacted(&redactor);
        let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
        assert_eq!(
            body["items"][0]["message"],
            format!("api_key {} refused by {}", mask(KEY), mask(TOKEN))
        );
        let text =
            ApiResponse::text(StatusCode::OK, "text/plain", format!("k={KEY}")).redacted(&redactor);
        assert_eq!(&text.body[..], format!("k={}", mask(KEY)).as_bytes());
        // An answer with nothing to mask keeps its bytes (and its field order).
        let clean = ApiResponse::ok(&json!({"z": 1, "a": "sk-a…9f3c"})).unwrap();
        assert_eq!(clean.clone().redacted(&redactor).body, clean.body);
        let error =
            ApiError::bad_request(format!("invalid type: string \"{KEY}\"")).redacted(&redactor);
        assert!(!error.message.contains(KEY), "{}", error.message);
    }

    fn request(body: &str) -> ApiRequest {
        ApiRequest {
            method: Method::POST,
            path: "/api/x".into(),
            params: BTreeMap::new(),
            query: BTreeMap::new(),
            headers: HeaderMap::new(),
            body: Bytes::from(body.to_string()),
            request_id: "t".into(),
        }
    }

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Days {
        validity_days: Option<u32>,
        items: Vec<u8>,
    }

    #[test]
    fn whole_numbers_with_a_fraction_or_exponent_are_integers() {
        let days: Days = request(r#"{"validity_days": 30.0, "items": [1e1, 2]}"#)
            .json()
            .unwrap();
        assert_eq!(
            days,
            Days {
                validity_days: Some(30),
                items: vec![10, 2]
            }
        );
        // A real fraction is still refused, and the message is about the body as sent.
        let e = request(r#"{"validity_days": 30.5, "items": []}"#)
            .json::<Days>()
            .unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.contains("validity_days"), "{}", e.message);
        let e = request(r#"{"validity_days": 1.0, "items": [], "extra": 1}"#)
            .json::<Days>()
            .unwrap_err();
        assert!(e.message.contains("unknown field `extra`"), "{}", e.message);
    }
}
