//! Request wrapper and response builders for the host's wire shapes.

use std::net::IpAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use hyper::{Method, Response, StatusCode};
use serde_json::{json, Map, Value};

use crate::util::{go_field, url_decode};

/// The response type of every handler.
pub(crate) type Resp = Response<Full<Bytes>>;

/// A fully read request.
#[derive(Debug)]
pub(crate) struct Req {
    pub method: Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The client's IP address (the host's limiters count per client IP).
    pub peer: Option<IpAddr>,
}

impl Req {
    pub fn new(
        method: Method,
        path: &str,
        raw_query: Option<&str>,
        headers: HeaderMap,
        body: Bytes,
        peer: Option<IpAddr>,
    ) -> Req {
        let query = raw_query
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (url_decode(k), url_decode(v)),
                None => (url_decode(p), String::new()),
            })
            .collect();
        Req {
            method,
            path: path.to_string(),
            query,
            headers,
            body,
            peer,
        }
    }

    /// First value of a query parameter.
    pub fn q(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Non-empty query parameter.
    pub fn q_nonempty(&self, key: &str) -> Option<&str> {
        self.q(key).map(str::trim).filter(|v| !v.is_empty())
    }

    /// A header as text (absent or non-UTF-8 → `None`).
    pub fn header(&self, key: &str) -> Option<&str> {
        self.headers.get(key).and_then(|v| v.to_str().ok())
    }

    /// Binds a JSON object body like Gin's `ShouldBindJSON`.
    pub fn json_object(&self) -> Result<Map<String, Value>, Resp> {
        if self.body.iter().all(|b| b.is_ascii_whitespace()) {
            return Err(bad_request("Invalid request: EOF"));
        }
        match serde_json::from_slice::<Value>(&self.body) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(other) => Err(bad_request(&format!(
                "Invalid request: json: cannot unmarshal {} into Go value of type struct",
                json_type(&other)
            ))),
            Err(e) => Err(bad_request(&format!("Invalid request: {e}"))),
        }
    }

    /// Like [`Req::json_object`] but an empty or invalid body is an empty object.
    pub fn json_object_lenient(&self) -> Map<String, Value> {
        serde_json::from_slice::<Value>(&self.body)
            .ok()
            .and_then(|v| match v {
                Value::Object(m) => Some(m),
                _ => None,
            })
            .unwrap_or_default()
    }
}

/// Go's name for a JSON value's type in unmarshal errors.
pub(crate) fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A response with a JSON body.
pub(crate) fn json_resp(status: u16, body: &Value) -> Resp {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    raw(status, "application/json; charset=utf-8", bytes)
}

/// A response with an arbitrary body and content type.
pub(crate) fn raw(status: u16, content_type: &str, body: impl Into<Bytes>) -> Resp {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(CONTENT_TYPE, v);
    }
    r
}

/// Success envelope `{"code":0,"message":"success","data":...}` (data omitted when null).
pub(crate) fn ok(data: Value) -> Resp {
    ok_status(200, data)
}

/// Success envelope with a specific status (payment creates use 201).
pub(crate) fn ok_status(status: u16, data: Value) -> Resp {
    let mut body = json!({"code": 0, "message": "success"});
    if !data.is_null() {
        body["data"] = data;
    }
    json_resp(status, &body)
}

/// Delete-style success: `data: {"message": ...}`.
pub(crate) fn ok_message(msg: &str) -> Resp {
    ok(json!({ "message": msg }))
}

/// Handler error envelope `{"code":<status>,"message":...,"reason":...}`.
pub(crate) fn err(status: u16, message: &str, reason: &str) -> Resp {
    err_meta(status, message, reason, &[])
}

/// Handler error envelope with `metadata`.
pub(crate) fn err_meta(
    status: u16,
    message: &str,
    reason: &str,
    metadata: &[(&str, &str)],
) -> Resp {
    let mut body = json!({"code": status, "message": message});
    if !reason.is_empty() {
        body["reason"] = json!(reason);
    }
    if !metadata.is_empty() {
        let m: Map<String, Value> = metadata
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        body["metadata"] = Value::Object(m);
    }
    json_resp(status, &body)
}

/// 400 with no reason (binding/validation failure).
pub(crate) fn bad_request(message: &str) -> Resp {
    err(400, message, "")
}

/// Generic 500 `{"code":500,"message":"internal error"}`.
pub(crate) fn internal_error() -> Resp {
    err(500, "internal error", "")
}

/// Middleware flat error `{"code":"STRING","message":...}`.
pub(crate) fn mw_err(status: u16, code: &str, message: &str) -> Resp {
    json_resp(status, &json!({"code": code, "message": message}))
}

/// Gin's plain-text 404 for an unknown route.
pub(crate) fn not_found_route() -> Resp {
    raw(404, "text/plain", "404 page not found")
}

/// Parses a decimal path id or answers 400 `Invalid <thing> ID`.
pub(crate) fn path_id(seg: &str, thing: &str) -> Result<i64, Resp> {
    seg.parse::<i64>()
        .map_err(|_| bad_request(&format!("Invalid {thing} ID")))
}

/// Pagination parameters as the host parses them.
pub(crate) fn page_params(req: &Req) -> (usize, usize) {
    fn parse(s: &str) -> Option<usize> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    }
    let page = req
        .q("page")
        .and_then(parse)
        .filter(|v| *v > 0)
        .unwrap_or(1);
    let size_raw = match req.q("page_size") {
        Some(ps) if !ps.is_empty() => Some(ps),
        _ => req.q("limit").filter(|l| !l.is_empty()),
    };
    let size = size_raw
        .and_then(parse)
        .filter(|v| *v > 0 && *v <= 1000)
        .unwrap_or(20);
    (page, size)
}

/// Builds the paginated `data` object from all matching items.
pub(crate) fn paginate(items: Vec<Value>, page: usize, size: usize) -> Value {
    let total = items.len();
    let pages = total.div_ceil(size).max(1);
    let start = (page - 1).saturating_mul(size);
    let slice: Vec<Value> = items.into_iter().skip(start).take(size).collect();
    json!({"items": slice, "total": total, "page": page, "page_size": size, "pages": pages})
}

/// Typed field access over a JSON object body with Gin-like error texts.
#[derive(Debug)]
pub(crate) struct Body<'a> {
    pub map: &'a Map<String, Value>,
    pub structure: &'static str,
}

impl<'a> Body<'a> {
    pub fn new(map: &'a Map<String, Value>, structure: &'static str) -> Body<'a> {
        Body { map, structure }
    }

    fn type_err(&self, key: &str, v: &Value, want: &str) -> Resp {
        bad_request(&format!(
            "Invalid request: json: cannot unmarshal {} into Go struct field {}.{} of type {}",
            json_type(v),
            self.structure,
            key,
            want
        ))
    }

    /// `Invalid request: Key: 'S.Field' Error:Field validation for 'Field' failed on the 'tag' tag`.
    pub fn invalid(&self, key: &str, tag: &str) -> Resp {
        let f = go_field(key);
        bad_request(&format!(
            "Invalid request: Key: '{}.{f}' Error:Field validation for '{f}' failed on the '{tag}' tag",
            self.structure
        ))
    }

    /// True when the key is present (even as null).
    pub fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    /// True when present and not null.
    pub fn present(&self, key: &str) -> bool {
        self.map.get(key).is_some_and(|v| !v.is_null())
    }

    pub fn str(&self, key: &str) -> Result<Option<String>, Resp> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.type_err(key, v, "string")),
        }
    }

    pub fn req_str(&self, key: &str) -> Result<String, Resp> {
        match self.str(key)? {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(self.invalid(key, "required")),
        }
    }

    pub fn i64(&self, key: &str) -> Result<Option<i64>, Resp> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(v) => Ok(Some(v)),
                None => Err(self.type_err(key, &Value::Number(n.clone()), "int64")),
            },
            Some(v) => Err(self.type_err(key, v, "int64")),
        }
    }

    pub fn f64(&self, key: &str) -> Result<Option<f64>, Resp> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(v) => Err(self.type_err(key, v, "float64")),
        }
    }

    /// Like [`Body::f64`] but also accepts numeric strings; `""` is null.
    pub fn f64_lenient(&self, key: &str) -> Result<Option<f64>, Resp> {
        match self.map.get(key) {
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => s
                .trim()
                .parse::<f64>()
                .map(Some)
                .map_err(|_| self.type_err(key, &Value::String(s.clone()), "float64")),
            _ => self.f64(key),
        }
    }

    pub fn bool(&self, key: &str) -> Result<Option<bool>, Resp> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(self.type_err(key, v, "bool")),
        }
    }

    pub fn i64_vec(&self, key: &str) -> Result<Option<Vec<i64>>, Resp> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(a)) => {
                let mut out = Vec::with_capacity(a.len());
                for v in a {
                    match v.as_i64() {
                        Some(i) => out.push(i),
                        None => return Err(self.type_err(key, v, "int64")),
                    }
                }
                Ok(Some(out))
            }
            Some(v) => Err(self.type_err(key, v, "[]int64")),
        }
    }

    pub fn obj(&self, key: &str) -> Result<Option<Map<String, Value>>, Resp> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m.clone())),
            Some(v) => Err(self.type_err(key, v, "map[string]interface {}")),
        }
    }

    pub fn arr(&self, key: &str) -> Result<Option<Vec<Value>>, Resp> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a.clone())),
            Some(v) => Err(self.type_err(key, v, "[]interface {}")),
        }
    }
}

/// Reads the bytes of a fully buffered response body (all our bodies are `Full`).
pub(crate) fn resp_body_bytes(r: Resp) -> Bytes {
    use hyper::body::Body as _;
    use std::task::{Context, Poll, Waker};
    let (_, mut body) = r.into_parts();
    let mut cx = Context::from_waker(Waker::noop());
    match std::pin::Pin::new(&mut body).poll_frame(&mut cx) {
        Poll::Ready(Some(Ok(frame))) => frame.into_data().unwrap_or_default(),
        _ => Bytes::new(),
    }
}
