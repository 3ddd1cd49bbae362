//! API errors and their JSON form `{"error":{"code","message"}}`.

use hyper::StatusCode;
use serde_json::json;
use std::fmt;
use std::time::Duration;

/// An error answered to a client: an HTTP status, a stable machine code and a
/// message saying what was wrong and what to do. Messages never carry a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable snake_case code, e.g. `host_in_use`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
    /// Seconds to send in `Retry-After` (for `429`).
    pub retry_after: Option<u64>,
    /// The methods to send in `Allow` (for `405`).
    pub allow: Option<String>,
}

impl ApiError {
    /// Builds an error.
    pub fn new(status: StatusCode, code: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.into(),
            message: message.into(),
            retry_after: None,
            allow: None,
        }
    }

    /// `400 invalid_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    /// `404 not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// `401 unauthorized`.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong operator token: send `Authorization: Bearer <RELAY_ADMIN_TOKEN>`",
        )
    }

    /// `413 request_too_large`.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request_too_large",
            format!("request body exceeds the limit of {limit} bytes"),
        )
    }

    /// `413 request_too_large` on a route that takes no body (`/healthz`, `/readyz`,
    /// a public `/metrics`): answered from the headers, before any body byte is read.
    pub fn body_not_allowed() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request_too_large",
            "this route takes no request body",
        )
    }

    /// `408 request_timeout`: the body did not arrive within `limit`.
    pub fn request_timeout(limit: Duration) -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!(
                "the request body did not arrive within {} (RELAY_BODY_TIMEOUT)",
                human(limit)
            ),
        )
    }

    /// `429 rate_limited` with `Retry-After`: too many failed operator-token checks
    /// from the client's address; `wait` is what is left of its block.
    pub fn rate_limited(wait: Duration) -> Self {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let secs = secs.max(1);
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many failed operator-token checks from this address: retry in {secs} s"),
        );
        e.retry_after = Some(secs);
        e
    }

    /// `500 internal`.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// This error with its message passed through `redactor`.
    pub fn redacted(mut self, redactor: &relay_domain::Redactor) -> Self {
        redactor.redact_in_place(&mut self.message);
        self
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        json!({ "error": { "code": self.code, "message": self.message } })
    }
}

/// `1.5s`, `30s`, `500ms`.
fn human(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else if d.as_secs() == 0 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limited_rounds_the_wait_up() {
        let e = ApiError::rate_limited(Duration::from_millis(41_200));
        assert_eq!(e.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(e.code, "rate_limited");
        assert_eq!(e.retry_after, Some(42));
        assert_eq!(ApiError::rate_limited(Duration::ZERO).retry_after, Some(1));
        assert_eq!(ApiError::unauthorized().retry_after, None);
    }

    #[test]
    fn request_timeout_names_the_limit() {
        let e = ApiError::request_timeout(Duration::from_millis(1500));
        assert_eq!(e.status, StatusCode::REQUEST_TIMEOUT);
        assert!(e.message.contains("1.5s"), "{}", e.message);
        assert!(ApiError::request_timeout(Duration::from_secs(30))
            .message
            .contains("within 30s"));
    }
}
